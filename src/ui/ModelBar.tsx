import { useEffect, useState } from 'react';
import type { EngineStats, LoadProgress } from '../engine/api';
import { useChat } from '../state/store';
import { FIXTURE_MODELS, fixtureUrl } from '../state/models';
import { formatBytes } from './formatBytes';
import { ModelCachedBadge } from './OfflineModels';

function describe(stats: EngineStats): string {
  return `${stats.architecture} ${stats.quantization}, ${stats.numLayers} layers, weights ${formatBytes(stats.weightBytes)}, context ${stats.kvCapacity} tokens`;
}

function formatDuration(seconds: number): string {
  if (seconds < 60) return `${Math.ceil(seconds)} s`;
  return `${Math.floor(seconds / 60)} min ${Math.ceil(seconds % 60)} s`;
}

/** Bytes so far, speed and time left of a download, measured from the first progress report. */
function LoadProgressLine({ progress }: { progress: LoadProgress | null }) {
  const cancelLoad = useChat((s) => s.cancelLoad);
  // Speed is measured from the first report, so bytes served from the cache before it do not count.
  const [start, setStart] = useState<{ time: number; bytes: number } | null>(null);
  useEffect(() => {
    if (progress && !start) setStart({ time: performance.now(), bytes: progress.loadedBytes });
  }, [progress, start]);
  const elapsed = start ? (performance.now() - start.time) / 1000 : 0;
  const speed = progress && start && elapsed > 0.5 ? (progress.loadedBytes - start.bytes) / elapsed : 0;
  const remaining = progress ? progress.totalBytes - progress.loadedBytes : 0;
  return (
    <div data-testid="load-progress" className="flex flex-wrap items-center gap-x-3 gap-y-1 text-sm text-slate-600 dark:text-slate-400">
      <progress aria-label="Download progress" value={progress?.progress ?? 0} max={1} className="h-2 w-40 shrink-0 accent-teal-700" />
      {progress && progress.totalBytes > 0 && (
        <span className="tabular-nums">
          {formatBytes(progress.loadedBytes)} of {formatBytes(progress.totalBytes)}
          {speed > 0 && ` · ${formatBytes(Math.round(speed))}/s`}
          {speed > 0 && remaining > 0 && ` · ${formatDuration(remaining / speed)} left`}
        </span>
      )}
      <span className="min-w-0 flex-1 truncate">{progress?.text ?? 'Starting the engine…'}</span>
      <button
        data-testid="cancel-load"
        type="button"
        onClick={cancelLoad}
        className="rounded border border-slate-300 px-2 py-0.5 hover:bg-slate-100 dark:border-slate-600 dark:hover:bg-slate-800"
      >
        Cancel
      </button>
    </div>
  );
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

  // A loaded model lives in Cache Storage; ask the browser not to evict it under storage pressure.
  const ready = model.phase === 'ready';
  useEffect(() => {
    if (ready) void navigator.storage?.persisted?.().then((persisted) => persisted || navigator.storage.persist());
  }, [ready]);

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
      {model.phase === 'loading' && <LoadProgressLine progress={model.progress} />}
      {model.phase === 'ready' && (
        <p data-testid="model-ready" className="text-sm text-slate-600 dark:text-slate-400">
          <span className="font-medium text-teal-800 dark:text-teal-300">{model.modelId}</span> ready: {describe(model.stats)}
        </p>
      )}
    </section>
  );
}
