import { useEffect } from 'react';
import { useServiceWorker } from '../pwa/register';
import { useChat } from '../state/store';

/** Registers the service worker, says once when the app has been cached for offline use, and offers
 *  a new version when one is waiting (it never replaces the running app unasked). */
export function UpdatePrompt() {
  const register = useServiceWorker((s) => s.register);
  const offlineReady = useServiceWorker((s) => s.offlineReady);
  const updateAvailable = useServiceWorker((s) => s.updateAvailable);
  const reload = useServiceWorker((s) => s.reload);
  const dismissOfflineReady = useServiceWorker((s) => s.dismissOfflineReady);
  const dismissUpdate = useServiceWorker((s) => s.dismissUpdate);
  // Reloading ends the page, and with it a reply being streamed.
  const generating = useChat((s) => s.generating);

  useEffect(() => register(), [register]);

  if (updateAvailable) {
    return (
      <section data-testid="update-prompt" role="status" className="flex items-center gap-3 rounded-lg border border-teal-300 bg-teal-50 px-3 py-2 text-sm">
        <p className="flex-1 text-teal-900">Update available: a new version of kvchat is ready.</p>
        <button
          type="button"
          disabled={generating}
          onClick={() => void reload()}
          className="rounded bg-teal-700 px-3 py-1 font-medium text-white hover:bg-teal-800 disabled:opacity-50"
        >
          Reload
        </button>
        <button type="button" onClick={dismissUpdate} className="text-teal-800 hover:text-teal-950">
          Later
        </button>
      </section>
    );
  }
  if (offlineReady) {
    return (
      <section data-testid="offline-ready" role="status" className="flex items-center gap-3 rounded-lg border border-slate-200 bg-white px-3 py-2 text-sm">
        <p className="flex-1 text-slate-700">kvchat is installed for offline use: it opens with the network off, and so do the models you have loaded once.</p>
        <button type="button" onClick={dismissOfflineReady} className="text-slate-500 hover:text-slate-800" aria-label="Dismiss">
          ✕
        </button>
      </section>
    );
  }
  return null;
}
