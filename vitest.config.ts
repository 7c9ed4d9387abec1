/// <reference types="@vitest/browser/providers/playwright" />
import { defineConfig } from 'vitest/config';

// Chromium flags that give WebGPU on SwiftShader (CPU) in headless mode and keep the browser
// off the network (see shared/RECIPES.md).
export const chromiumArgs = [
  '--enable-unsafe-webgpu',
  '--no-sandbox',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['src/**/*.test.ts', 'scripts/**/*.test.ts', 'bench/**/*.test.ts'],
          exclude: ['src/**/*.gpu.test.ts', 'bench/**/*.gpu.test.ts'],
          environment: 'node',
          // A hang detector: the slowest unit test takes ~1 s on an idle 2-core machine.
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'gpu',
          include: ['src/**/*.gpu.test.ts', 'bench/**/*.gpu.test.ts'],
          // Limits that only catch hangs: the slowest test takes ~80 s on an idle 2-core machine
          // (SwiftShader runs WebGPU on the CPU), and a busy one can be several times slower.
          testTimeout: 900_000,
          hookTimeout: 900_000,
          browser: {
            enabled: true,
            provider: 'playwright',
            headless: true,
            screenshotFailures: false,
            // One test file at a time, whatever the core count, so a test's speed never depends on
            // which others share the CPU with it.
            fileParallelism: false,
            instances: [
              {
                browser: 'chromium',
                launch: {
                  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
                  args: chromiumArgs,
                },
              },
            ],
          },
        },
      },
    ],
  },
});
