import type { EngineStats } from '../engine/api';
import { useChat } from '../state/store';
import { FIXTURE_MODELS, fixtureUrl } from '../state/models';
import { formatBytes } from './formatBytes';
import { ModelCachedBadge } from './OfflineModels';

function describe(stats: EngineStats): string {
  return `${stats.architecture} ${stats.quantization}, ${stats.numLayers} layers, weights ${formatBytes(stats.weightBytes)}, context ${stats.kvCapacity} tokens`;
}

/** The model URL (or a bundled fixture), the Load button, and the load progress or loaded model. */
export function ModelBar() {
  const modelUrl = useChat((s) => s.modelUrl);
  const model = useChat((s) => s.model);
  const generating = useChat((s) => s.generating);
  const setModelUrl = useChat((s) => s.setModelUrl);
  const loadModel = useChat((s) => s.loadModel);
  const unloadModel = useChat((s) => s.unloadModel);
  const fixture = FIXTURE_MODELS.find((name) => fixtureUrl(name, document.baseURI) === modelUrl) ?? '';
  const loading = model.phase === 'loading';

  return (
    <section className="flex flex-col gap-2">
      <form
        className="flex flex-wrap gap-2"
        onSubmit={(event) => {
          event.preventDefault();
          void loadModel();
        }}
      >
        <select
          aria-label="Bundled model"
          value={fixture}
          onChange={(event) => event.target.value && setModelUrl(fixtureUrl(event.target.value as (typeof FIXTURE_MODELS)[number], document.baseURI))}
          className="rounded border border-slate-300 bg-white px-2 py-1 text-sm dark:border-slate-600 dark:bg-slate-800"
        >
          <option value="">custom URL</option>
          {FIXTURE_MODELS.map((name) => (
            <option key={name} value={name}>
              {name}
            </option>
          ))}
        </select>
        <input
          data-testid="model-url"
          aria-label="Model URL"
          value={modelUrl}
          onChange={(event) => setModelUrl(event.target.value)}
          spellCheck={false}
          className="min-w-0 flex-1 basis-48 rounded border border-slate-300 bg-white px-2 py-1 font-mono text-sm dark:border-slate-600 dark:bg-slate-800"
        />
        <button
          data-testid="load-button"
          type="submit"
          disabled={loading || generating || !modelUrl.trim()}
          className="rounded bg-teal-700 px-3 py-1 text-sm font-medium text-white hover:bg-teal-800 disabled:opacity-50"
        >
          Load
        </button>
        <ModelCachedBadge />
        {model.phase === 'ready' && (
          <button
            data-testid="unload-button"
            type="button"
            disabled={generating}
            onClick={() => void unloadModel()}
            className="rounded border border-slate-300 bg-white px-3 py-1 text-sm hover:bg-slate-100 disabled:opacity-50 dark:border-slate-600 dark:bg-slate-800 dark:hover:bg-slate-700"
          >
            Unload
          </button>
        )}
      </form>
      {model.phase === 'loading' && (
        <div data-testid="load-progress" className="flex items-center gap-2 text-sm text-slate-600 dark:text-slate-400">
          <progress value={model.progress?.progress ?? 0} max={1} className="h-2 w-40 shrink-0 accent-teal-700" />
          <span className="truncate">{model.progress?.text ?? 'Starting the engine…'}</span>
        </div>
      )}
      {model.phase === 'ready' && (
        <p data-testid="model-ready" className="text-sm text-slate-600 dark:text-slate-400">
          <span className="font-medium text-teal-800 dark:text-teal-300">{model.modelId}</span> ready: {describe(model.stats)}
        </p>
      )}
    </section>
  );
}
