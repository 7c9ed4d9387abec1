// The service worker's lifecycle as the page sees it: the app shell cached for offline use, and a
// new version waiting for the user's go-ahead (registerType 'prompt': an update never replaces the
// running app behind the user's back, which would cut a reply mid-stream).
import type { RegisterSWOptions } from 'vite-plugin-pwa/types';
import type { StateCreator } from 'zustand';

/** What the store needs from the browser; register.ts binds the real ones, tests pass doubles. */
export interface ServiceWorkerHost {
  /** virtual:pwa-register's registerSW: returns the function that activates a waiting update. */
  register(options: RegisterSWOptions): (reloadPage?: boolean) => Promise<void>;
  /** Calls back once, when another service worker takes control of the page. */
  onControllerChange(callback: () => void): void;
  reloadPage(): void;
}

/** How often an open tab asks the server for a new version (the browser also checks on each visit). */
export const UPDATE_CHECK_INTERVAL_MS = 60 * 60 * 1000;

export interface UpdateState {
  /** The app shell is precached: from now on the page loads with the network off. */
  offlineReady: boolean;
  /** A new version is installed and waiting; reload() activates it and reloads the page. */
  updateAvailable: boolean;
  /** Why the service worker could not be registered; the app still runs, only not offline. */
  registrationError: string | null;
  /** Registers the service worker; later calls do nothing. */
  register(): void;
  /** Activates the waiting version; the page reloads once that version controls it. */
  reload(): Promise<void>;
  dismissOfflineReady(): void;
  dismissUpdate(): void;
}

export function updateState(host: ServiceWorkerHost): StateCreator<UpdateState> {
  let activateUpdate: ((reloadPage?: boolean) => Promise<void>) | undefined;

  return (set) => ({
    offlineReady: false,
    updateAvailable: false,
    registrationError: null,

    register() {
      activateUpdate ??= host.register({
        immediate: true,
        // reload() reloads the page itself: workbox-window reports an update as one only when the
        // page had a controller at registration, so after a first visit's install it never would.
        onNeedReload: () => {},
        onOfflineReady: () => set({ offlineReady: true }),
        onNeedRefresh: () => set({ updateAvailable: true }),
        onRegisteredSW: (_url, registration) => {
          if (registration) setInterval(() => void registration.update().catch(() => {}), UPDATE_CHECK_INTERVAL_MS);
        },
        onRegisterError: (error: unknown) => set({ registrationError: error instanceof Error ? error.message : String(error) }),
      });
    },

    async reload() {
      set({ updateAvailable: false });
      host.onControllerChange(() => host.reloadPage());
      await activateUpdate?.(true);
    },

    dismissOfflineReady() {
      set({ offlineReady: false });
    },

    dismissUpdate() {
      set({ updateAvailable: false });
    },
  });
}
