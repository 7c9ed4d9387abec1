// The app's one service-worker store, bound to vite-plugin-pwa's registration (workbox-window).
/// <reference types="vite-plugin-pwa/vanillajs" />
import { registerSW } from 'virtual:pwa-register';
import { create } from 'zustand';
import { updateState, type UpdateState } from './update';

export const useServiceWorker = create<UpdateState>()(
  updateState({
    register: registerSW,
    onControllerChange: (callback) => navigator.serviceWorker.addEventListener('controllerchange', callback, { once: true }),
    reloadPage: () => location.reload(),
  }),
);
