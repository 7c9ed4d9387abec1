// Bundles the Node benchmarks (bench/decode.ts, kivi.ts, zigzag.ts, profile.ts and the others below) into Node ES modules,
// bench/.carry/<name>.mjs plus the code they share in bench/.carry/chunks/, so the engine's `?raw`
// kernel imports resolve and the GPU machine needs no node_modules: everything is inlined except
// node: built-ins and `webgpu` (a native addon, found at run time in node_modules next to the
// bundle or above it).
import { defineConfig } from 'vite';

export default defineConfig({
  publicDir: false,
  logLevel: 'warn',
  build: {
    ssr: true,
    // KVCHAT_CARRY_DIR lets a second benchmark bundle build beside this one without touching it.
    outDir: process.env.KVCHAT_CARRY_DIR ?? 'bench/.carry',
    // The folder also holds what scripts/device-prepare.sh collects for the GPU machine.
    emptyOutDir: false,
    target: 'node20',
    minify: false,
    // @mlc-ai/web-tokenizers is a UMD file (read as CommonJS for its exports) whose Emscripten part
    // calls require('u' + 'rl'): keep that call as it is instead of a stub that throws.
    commonjsOptions: { ignoreDynamicRequires: true },
    rollupOptions: {
      input: { decode: 'bench/decode.ts', kivi: 'bench/kivi.ts', zigzag: 'bench/zigzag.ts', profile: 'bench/profile.ts', 'gemv-sweep': 'bench/gemv-sweep.ts', quality: 'bench/quality.ts', 'peer-webllm': 'bench/peer-webllm.ts' },
      external: ['webgpu'],
      output: {
        entryFileNames: '[name].mjs',
        chunkFileNames: 'chunks/[name]-[hash].mjs',
        // ...and reads the globals `require` and `__filename`, which an ES module lacks. Every chunk
        // starts with this banner, so whichever chunk holds the tokenizer sets them before its body
        // runs. (A module-level `const require` would be renamed by Rollup to keep the global visible.)
        banner: [
          "import { createRequire as kvchatCreateRequire } from 'node:module';",
          "import { fileURLToPath as kvchatFileURLToPath } from 'node:url';",
          'globalThis.require = kvchatCreateRequire(import.meta.url);',
          'globalThis.__filename = kvchatFileURLToPath(import.meta.url);',
        ].join('\n'),
      },
    },
  },
  ssr: { noExternal: true, external: ['webgpu'] },
});
