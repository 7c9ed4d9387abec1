import { GENERATION_SETTINGS, type GenerationSettings } from '../state/chat';
import { useChat } from '../state/store';

const KEYS = Object.keys(GENERATION_SETTINGS) as (keyof GenerationSettings)[];

/** Sampling settings, applied to the next message. */
export function SettingsRow() {
  const settings = useChat((s) => s.settings);
  const updateSettings = useChat((s) => s.updateSettings);
  return (
    <section className="flex flex-wrap gap-4 text-sm text-slate-700">
      {KEYS.map((key) => {
        const range = GENERATION_SETTINGS[key];
        return (
          <label key={key} className="flex items-center gap-2">
            {range.label}
            <input
              data-testid={`setting-${key}`}
              type="number"
              min={range.min}
              max={range.max}
              step={range.step}
              value={settings[key]}
              onChange={(event) => updateSettings({ [key]: event.target.valueAsNumber })}
              className="w-20 rounded border border-slate-300 bg-white px-2 py-0.5"
            />
          </label>
        );
      })}
    </section>
  );
}
