import { useEffect, useId, useState, type ReactNode } from 'react';
import type { KvSettings } from '../engine/api';
import { KV_PRESETS, KV_SETTINGS_SCHEMA, type KvSettingSpec } from '../engine/kv/settings';
import { GENERATION_SETTINGS, type NumericGenerationSetting } from '../state/chat';
import { useChat } from '../state/store';
import { QUALITY_RESULT, qualityNote } from './presetQuality';

// Every KV control comes from the schema: a setting added there appears here with its label, help,
// values or range, with no change to this file.
const KV_SPECS = Object.values(KV_SETTINGS_SCHEMA) as KvSettingSpec[];
const GENERATION_KEYS = Object.keys(GENERATION_SETTINGS) as NumericGenerationSetting[];

const fieldClass = 'w-full rounded border border-slate-300 bg-white px-2 py-1 text-sm disabled:opacity-50 dark:border-slate-600 dark:bg-slate-800';

/** A number typed freely and applied on Enter or when focus leaves, so half-typed values ("0.") are never applied. */
function NumberField(props: {
  id: string; testId: string; value: number; min: number; max: number; step: number; disabled?: boolean; describedBy: string;
  onCommit: (value: number) => void;
}) {
  const { id, testId, value, min, max, step, disabled, describedBy, onCommit } = props;
  const [draft, setDraft] = useState(String(value));
  useEffect(() => setDraft(String(value)), [value]);
  const commit = () => {
    const parsed = Number(draft);
    if (draft.trim() !== '' && Number.isFinite(parsed) && parsed !== value) onCommit(parsed);
    else setDraft(String(value));
  };
  return (
    <input
      id={id}
      data-testid={testId}
      type="number"
      inputMode="decimal"
      min={min}
      max={max}
      step={step}
      value={draft}
      disabled={disabled}
      aria-describedby={describedBy}
      onChange={(event) => setDraft(event.target.value)}
      onBlur={commit}
      onKeyDown={(event) => {
        if (event.key === 'Enter') {
          event.preventDefault();
          commit();
        }
      }}
      className={fieldClass}
    />
  );
}

function Field({ label, help, children }: { label: string; help: string; children: (id: string, helpId: string) => ReactNode }) {
  const id = useId();
  return (
    <div className="flex flex-col gap-0.5">
      <label htmlFor={id} className="text-sm font-medium">
        {label}
      </label>
      {children(id, `${id}-help`)}
      <p id={`${id}-help`} className="text-xs text-slate-500 dark:text-slate-400">
        {help}
      </p>
    </div>
  );
}

function KvControl({ spec, disabled }: { spec: KvSettingSpec; disabled: boolean }) {
  const value = useChat((s) => s.kvSettings[spec.key]);
  const updateKvSettings = useChat((s) => s.updateKvSettings);
  return (
    <Field label={spec.label} help={spec.help}>
      {(id, helpId) =>
        spec.kind === 'choice' ? (
          <select
            id={id}
            data-testid={`kv-${spec.key}`}
            value={String(value)}
            disabled={disabled}
            aria-describedby={helpId}
            onChange={(event) => {
              const choice = spec.choices.find((c) => String(c) === event.target.value);
              if (choice !== undefined) void updateKvSettings({ [spec.key]: choice } as Partial<KvSettings>);
            }}
            className={fieldClass}
          >
            {spec.choices.map((choice) => (
              <option key={String(choice)} value={String(choice)}>
                {String(choice)}
              </option>
            ))}
          </select>
        ) : (
          <NumberField
            id={id}
            testId={`kv-${spec.key}`}
            value={value as number}
            min={spec.min}
            max={spec.max}
            step={spec.step}
            disabled={disabled}
            describedBy={helpId}
            onCommit={(next) => void updateKvSettings({ [spec.key]: next } as Partial<KvSettings>)}
          />
        )
      }
    </Field>
  );
}

function samePreset(a: KvSettings, b: KvSettings): boolean {
  return KV_SPECS.every((spec) => a[spec.key] === b[spec.key]);
}

function PresetQualityNote({ settings }: { settings: KvSettings }) {
  const note = qualityNote(QUALITY_RESULT, settings);
  if (!note) return null;
  return (
    <span data-testid="kv-preset-quality" title={note.title} className="text-xs text-slate-500 dark:text-slate-400">
      {note.text}
    </span>
  );
}

function KvSettingsSection() {
  const kvSettings = useChat((s) => s.kvSettings);
  const kvError = useChat((s) => s.kvError);
  const applying = useChat((s) => s.applyingKv);
  const phase = useChat((s) => s.model.phase);
  const generating = useChat((s) => s.generating);
  const updateKvSettings = useChat((s) => s.updateKvSettings);
  const disabled = generating || applying || phase === 'loading';

  return (
    <fieldset data-testid="kv-settings" className="flex flex-col gap-3">
      <legend className="mb-1 text-sm font-semibold">KV cache compression</legend>
      <p className="text-xs text-slate-500 dark:text-slate-400">
        {generating
          ? 'Changes wait until the reply ends.'
          : phase === 'ready'
            ? 'Changes apply at once; the next reply re-reads the conversation into the new cache.'
            : 'Applied when the model loads.'}
      </p>
      <div role="group" aria-label="Presets" className="flex flex-col gap-1.5">
        {KV_PRESETS.map((preset) => {
          const active = samePreset(preset.settings, kvSettings);
          return (
            <div key={preset.name} className="flex flex-wrap items-baseline gap-x-2 gap-y-0.5">
              <button
                data-testid="kv-preset"
                type="button"
                aria-pressed={active}
                disabled={disabled}
                onClick={() => void updateKvSettings(preset.settings)}
                className={`rounded-full border px-2.5 py-0.5 text-xs disabled:opacity-50 ${
                  active ? 'border-teal-700 bg-teal-700 text-white' : 'border-slate-300 hover:bg-slate-100 dark:border-slate-600 dark:hover:bg-slate-800'
                }`}
              >
                {preset.name}
              </button>
              <PresetQualityNote settings={preset.settings} />
            </div>
          );
        })}
      </div>
      {kvError && (
        <p data-testid="kv-error" role="alert" className="rounded border border-red-300 bg-red-50 px-2 py-1 text-xs text-red-900 dark:border-red-800 dark:bg-red-950 dark:text-red-200">
          {kvError.message} {kvError.hint}
        </p>
      )}
      <div className="grid grid-cols-2 gap-3">
        {KV_SPECS.map((spec) => (
          <KvControl key={spec.key} spec={spec} disabled={disabled} />
        ))}
      </div>
    </fieldset>
  );
}

function GenerationSection() {
  const settings = useChat((s) => s.settings);
  const updateSettings = useChat((s) => s.updateSettings);
  const systemPromptId = useId();
  const ignoreEosId = useId();
  return (
    <fieldset className="flex flex-col gap-3">
      <legend className="mb-1 text-sm font-semibold">Generation</legend>
      <div className="grid grid-cols-3 gap-3">
        {GENERATION_KEYS.map((key) => {
          const range = GENERATION_SETTINGS[key];
          return (
            <Field key={key} label={range.label} help={range.help}>
              {(id, helpId) => (
                <NumberField
                  id={id}
                  testId={`setting-${key}`}
                  value={settings[key]}
                  min={range.min}
                  max={range.max}
                  step={range.step}
                  describedBy={helpId}
                  onCommit={(value) => updateSettings({ [key]: value })}
                />
              )}
            </Field>
          );
        })}
      </div>
      <div className="flex flex-col gap-0.5">
        <label className="flex items-center gap-2 text-sm font-medium">
          <input
            data-testid="setting-ignoreEos"
            type="checkbox"
            checked={settings.ignoreEos}
            aria-describedby={`${ignoreEosId}-help`}
            onChange={(event) => updateSettings({ ignoreEos: event.target.checked })}
            className="h-4 w-4 accent-teal-700"
          />
          Ignore end of text
        </label>
        <p id={`${ignoreEosId}-help`} className="text-xs text-slate-500 dark:text-slate-400">
          Keeps writing past the model&apos;s end-of-reply token and stop strings, until Max tokens or Stop.
        </p>
      </div>
      <div className="flex flex-col gap-0.5">
        <label htmlFor={systemPromptId} className="text-sm font-medium">
          System prompt
        </label>
        <textarea
          id={systemPromptId}
          data-testid="setting-systemPrompt"
          rows={2}
          value={settings.systemPrompt}
          placeholder="Sent before the conversation, e.g. “Answer briefly.”"
          onChange={(event) => updateSettings({ systemPrompt: event.target.value })}
          className={fieldClass}
        />
      </div>
    </fieldset>
  );
}

/** Generation settings (for the next reply) and KV cache settings (live), saved with the conversation. */
export function SettingsPanel() {
  return (
    <section aria-label="Settings" className="flex flex-col gap-5">
      <GenerationSection />
      <KvSettingsSection />
    </section>
  );
}
