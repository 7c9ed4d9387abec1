import { useEffect } from 'react';
import type { CachedModel } from '../pwa/modelCache';
import { useOfflineModels, useOnline } from '../pwa/offline';
import { useServiceWorker } from '../pwa/register';
import { useChat } from '../state/store';
import { formatBytes } from './formatBytes';

const withSlash = (url: string) => (url.endsWith('/') ? url : `${url}/`);

/** The model folder as the user knows it: the path on this site, the whole URL elsewhere. */
function displayName(baseUrl: string): string {
  const url = new URL(baseUrl);
  return url.origin === location.origin ? url.pathname : baseUrl;
}

function OfflineModelRow({ model }: { model: CachedModel }) {
  const remove = useOfflineModels((s) => s.remove);
  const setModelUrl = useChat((s) => s.setModelUrl);
  // A load in progress is still writing this model's files.
  const loading = useChat((s) => s.model.phase === 'loading' && withSlash(s.modelUrl.trim()) === model.baseUrl);
  return (
    <li data-testid="offline-model" data-url={model.baseUrl} data-complete={model.complete} className="flex items-center gap-2">
      <span className="min-w-0 flex-1 truncate font-mono" title={model.baseUrl}>
        {displayName(model.baseUrl)}
      </span>
      <span className="shrink-0 text-slate-500">
        {formatBytes(model.bytes)}, {model.files} files{model.complete ? '' : ' (partial download: loading it needs the network)'}
      </span>
      <button type="button" onClick={() => setModelUrl(model.baseUrl)} className="rounded border border-slate-300 bg-white px-2 hover:bg-slate-100 dark:border-slate-600 dark:bg-slate-800">
        Use
      </button>
      <button
        data-testid="offline-model-delete"
        type="button"
        disabled={loading}
        onClick={() => void remove(model.baseUrl)}
        className="rounded border border-slate-300 bg-white px-2 hover:bg-slate-100 disabled:opacity-50 dark:border-slate-600 dark:bg-slate-800"
      >
        Delete
      </button>
    </li>
  );
}

/** The models kept in the browser for offline use, their size, and the origin's storage use. */
export function OfflineModels() {
  const models = useOfflineModels((s) => s.models);
  const storage = useOfflineModels((s) => s.storage);
  const refresh = useOfflineModels((s) => s.refresh);
  const registrationError = useServiceWorker((s) => s.registrationError);
  // Every load, finished or failed, may have added files to the cache.
  const phase = useChat((s) => s.model.phase);
  useEffect(() => {
    void refresh();
  }, [phase, refresh]);

  const available = models.filter((m) => m.complete);
  const totalBytes = models.reduce((n, m) => n + m.bytes, 0);
  return (
    <details data-testid="offline-models" className="rounded-lg border border-slate-200 bg-white px-3 py-2 text-sm dark:border-slate-700 dark:bg-slate-900">
      <summary className="cursor-pointer text-slate-700 dark:text-slate-300">
        Available offline: {available.length} {available.length === 1 ? 'model' : 'models'} ({formatBytes(totalBytes)} cached)
        {storage && (
          <span data-testid="storage-estimate" className="text-slate-500">
            {' '}
            · browser storage used {formatBytes(storage.usage)} of {formatBytes(storage.quota)}
          </span>
        )}
      </summary>
      {registrationError && <p className="mt-2 text-amber-800">The app could not be installed for offline use: {registrationError}</p>}
      {models.length === 0 ? (
        <p className="mt-2 text-slate-500">No model is cached yet: a model you load is kept in the browser and loads again with the network off.</p>
      ) : (
        <ul className="mt-2 flex flex-col gap-1">
          {models.map((model) => (
            <OfflineModelRow key={model.baseUrl} model={model} />
          ))}
        </ul>
      )}
    </details>
  );
}

/** Marks the model URL in the model bar when its files are all cached. */
export function ModelCachedBadge() {
  const modelUrl = useChat((s) => s.modelUrl);
  const cached = useOfflineModels((s) => s.models.some((m) => m.complete && m.baseUrl === withSlash(modelUrl.trim())));
  if (!cached) return null;
  return (
    <span data-testid="model-cached" className="self-center rounded bg-teal-50 px-2 py-0.5 text-xs text-teal-800">
      available offline
    </span>
  );
}

/** Said next to a download failure while the browser is offline: the model is not (fully) cached. */
export function NeedsNetwork() {
  const online = useOnline();
  const failedDownload = useChat((s) => s.error?.code === 'model-fetch' || s.error?.code === 'tokenizer-missing');
  if (online || !failedDownload) return null;
  return (
    <p data-testid="needs-network" role="alert" className="rounded-lg border border-amber-300 bg-amber-50 px-3 py-2 text-sm text-amber-900">
      You are offline, and this model is not cached in the browser: loading it needs the network. Reconnect and load it again, or pick one
      of the models listed under “Available offline”.
    </p>
  );
}
