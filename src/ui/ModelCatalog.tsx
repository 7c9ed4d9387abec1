import { useState } from 'react';
import { useOfflineModels } from '../pwa/offline';
import { useChat } from '../state/store';
import type { CatalogModel } from './catalog';

type CatalogState = { phase: 'closed' } | { phase: 'loading' } | { phase: 'ready'; models: CatalogModel[] } | { phase: 'failed'; message: string };

function formatVram(mb: number | null): string {
  if (mb === null) return 'VRAM unknown';
  return mb < 1024 ? `~${Math.round(mb)} MB VRAM` : `~${(mb / 1024).toFixed(1)} GB VRAM`;
}

function CatalogRow({ model }: { model: CatalogModel }) {
  const setModelUrl = useChat((s) => s.setModelUrl);
  const selected = useChat((s) => s.modelUrl === model.baseUrl);
  const cached = useOfflineModels((s) => s.models.some((m) => m.complete && m.baseUrl === model.baseUrl));
  return (
    <li data-testid="catalog-model" className="flex flex-wrap items-center gap-x-2 gap-y-0.5 py-1">
      <span className="min-w-0 flex-1 truncate font-mono text-xs" title={model.id}>
        {model.id}
      </span>
      <span className="text-xs text-slate-500 dark:text-slate-400">
        {model.architecture} {model.quantization} · {formatVram(model.vramMB)} (web-llm's estimate, fp16 cache)
        {model.contextWindow !== null && ` · ${model.contextWindow} ctx`}
        {model.lowResource && ' · low-resource'}
        {cached && ' · cached'}
      </span>
      <button
        type="button"
        aria-pressed={selected}
        onClick={() => setModelUrl(model.baseUrl)}
        className="rounded border border-slate-300 px-2 text-xs hover:bg-slate-100 aria-pressed:bg-teal-700 aria-pressed:text-white dark:border-slate-600 dark:hover:bg-slate-800"
      >
        {selected ? 'Selected' : 'Use'}
      </button>
    </li>
  );
}

/** web-llm's models that kvchat runs, fetched as a separate chunk the first time the list is opened. */
export function ModelCatalog() {
  const [catalog, setCatalog] = useState<CatalogState>({ phase: 'closed' });
  const [filter, setFilter] = useState('');

  const open = () => {
    if (catalog.phase !== 'closed' && catalog.phase !== 'failed') return;
    setCatalog({ phase: 'loading' });
    import('./catalog').then(
      ({ supportedCatalog }) => setCatalog({ phase: 'ready', models: supportedCatalog() }),
      (err: unknown) => setCatalog({ phase: 'failed', message: err instanceof Error ? err.message : String(err) }),
    );
  };

  const needle = filter.trim().toLowerCase();
  return (
    <details
      data-testid="model-catalog"
      onToggle={(event) => event.currentTarget.open && open()}
      className="rounded-lg border border-slate-200 bg-white px-3 py-2 text-sm dark:border-slate-700 dark:bg-slate-900"
    >
      <summary className="cursor-pointer text-slate-700 dark:text-slate-300">More models (web-llm's catalog, downloaded from Hugging Face)</summary>
      {catalog.phase === 'loading' && <p className="mt-2 text-slate-500">Reading the catalog…</p>}
      {catalog.phase === 'failed' && <p className="mt-2 text-red-700">The catalog could not be read: {catalog.message}</p>}
      {catalog.phase === 'ready' && (
        <>
          <p className="mt-2 text-xs text-slate-500 dark:text-slate-400">
            Llama-family and Qwen2 models in q4f16_1, q4f32_1, q0f16 or q0f32; kvchat needs no optional WebGPU feature (no shader-f16).
            A compressed KV cache needs less memory than the estimate.
          </p>
          <input
            type="search"
            aria-label="Filter models"
            placeholder="Filter, e.g. qwen 0.5B"
            value={filter}
            onChange={(event) => setFilter(event.target.value)}
            className="mt-2 w-full rounded border border-slate-300 bg-white px-2 py-1 dark:border-slate-600 dark:bg-slate-800"
          />
          <ul className="mt-1 max-h-64 divide-y divide-slate-100 overflow-y-auto dark:divide-slate-800">
            {catalog.models
              .filter((m) => needle.split(/\s+/).every((word) => m.id.toLowerCase().includes(word)))
              .map((model) => (
                <CatalogRow key={model.id} model={model} />
              ))}
          </ul>
        </>
      )}
    </details>
  );
}
