// The offline picture for the UI: which models the engine has cached (and their size), how much
// browser storage the origin uses, and whether the browser is online.
import { useSyncExternalStore } from 'react';
import { create, type StateCreator } from 'zustand';
import { deleteCachedModel, listCachedModels, type CachedModel } from './modelCache';

export interface StorageUse {
  /** Bytes this origin stores (caches, IndexedDB, ...), and the most it may store. */
  usage: number;
  quota: number;
}

export interface OfflineModelsState {
  models: CachedModel[];
  /** null until the first estimate, and where the browser gives none. */
  storage: StorageUse | null;
  refresh(): Promise<void>;
  /** Deletes the model's cached files; it will be downloaded again on its next load. */
  remove(baseUrl: string): Promise<void>;
}

export interface OfflineModelsSources {
  /** Undefined where the page has no Cache Storage (insecure origins). */
  caches: () => CacheStorage | undefined;
  storage: () => Pick<StorageManager, 'estimate'> | undefined;
}

export function offlineModelsState(sources: OfflineModelsSources): StateCreator<OfflineModelsState> {
  return (set, get) => ({
    models: [],
    storage: null,

    async refresh() {
      const caches = sources.caches();
      const [models, estimate] = await Promise.all([
        caches ? listCachedModels(caches) : [],
        sources.storage()?.estimate().catch(() => null) ?? null,
      ]);
      const storage = estimate?.usage !== undefined && estimate.quota !== undefined ? { usage: estimate.usage, quota: estimate.quota } : null;
      set({ models, storage });
    },

    async remove(baseUrl) {
      const caches = sources.caches();
      if (caches) await deleteCachedModel(caches, baseUrl);
      await get().refresh();
    },
  });
}

export const useOfflineModels = create<OfflineModelsState>()(
  offlineModelsState({ caches: () => globalThis.caches, storage: () => globalThis.navigator?.storage }),
);

function subscribeOnline(onChange: () => void): () => void {
  window.addEventListener('online', onChange);
  window.addEventListener('offline', onChange);
  return () => {
    window.removeEventListener('online', onChange);
    window.removeEventListener('offline', onChange);
  };
}

/** navigator.onLine, re-rendering when it changes. */
export function useOnline(): boolean {
  return useSyncExternalStore(subscribeOnline, () => navigator.onLine);
}
