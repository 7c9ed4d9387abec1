import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';
import tailwindcss from '@tailwindcss/vite';
import { VitePWA } from 'vite-plugin-pwa';

export default defineConfig({
  // A missing file (say, a wrong model URL) must answer 404, not the SPA's index.html.
  appType: 'mpa',
  plugins: [
    react(),
    tailwindcss(),
    // The service worker precaches the app shell so the page loads with the network off. Model
    // files are not its business: the engine's loader keeps them in Cache Storage 'kvchat-models'.
    VitePWA({
      registerType: 'prompt',
      // src/pwa/register.ts registers it (through virtual:pwa-register) and drives the update prompt.
      injectRegister: false,
      includeAssets: ['favicon.svg'],
      manifest: {
        name: 'kvchat',
        short_name: 'kvchat',
        description: 'Chat with a language model that runs in your browser on WebGPU, offline once the model is downloaded.',
        lang: 'en',
        start_url: '/',
        scope: '/',
        display: 'standalone',
        theme_color: '#115e59',
        background_color: '#f8fafc',
        icons: [
          { src: 'icons/icon-192.png', sizes: '192x192', type: 'image/png' },
          { src: 'icons/icon-512.png', sizes: '512x512', type: 'image/png' },
          { src: 'icons/icon-maskable-512.png', sizes: '512x512', type: 'image/png', purpose: 'maskable' },
        ],
      },
      workbox: {
        // Precache names are 'kvchat-precache-v2-<scope>'; each entry carries a content revision,
        // and an outdated precache is deleted when the new service worker activates.
        cacheId: 'kvchat',
        cleanupOutdatedCaches: true,
        // The shell: index.html, the main chunk, the CSS, and the engine worker's chunk, which
        // holds the WGSL kernels (imported ?raw) and the tokenizer's wasm (inlined as base64).
        // There are no font files (the CSS uses the system font stack); the favicon (includeAssets),
        // the manifest and its icons are added by the plugin.
        globPatterns: ['**/*.{html,js,css}'],
        // Models (fixtures, the demo model) are cached by the engine in 'kvchat-models' when loaded,
        // never twice; web-llm's catalog chunk (~5 MB, lazy) lists models that need the network anyway.
        globIgnores: ['fixtures/**', 'models/**', 'assets/catalog-*.js'],
        // The worker chunk is ~4.8 MB; Workbox skips files over 2 MiB by default.
        maximumFileSizeToCacheInBytes: 8 * 1024 * 1024,
        // On the first visit, control the page at once so the app works offline from then on;
        // an update still waits for the user (skipWaiting stays off, see UpdatePrompt).
        clientsClaim: true,
        // Only page navigations fall back to the shell: never a model file or anything else with
        // a file extension, so a missing file stays a 404 for the loader.
        navigateFallback: 'index.html',
        navigateFallbackDenylist: [/^\/fixtures\//, /\/[^/?]+\.[^/?]+(\?.*)?$/],
      },
    }),
  ],
  worker: { format: 'es' },
  build: { target: 'es2022', chunkSizeWarningLimit: 7000 },
});
