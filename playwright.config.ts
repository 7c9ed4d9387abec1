import { defineConfig } from '@playwright/test';
import { chromiumArgs, chromiumPath } from './e2e/chromium';

const port = 4173;

// WebGPU runs on SwiftShader (the CPU) here, so loads and replies take seconds, and several times
// longer on a busy machine. The timeouts only catch hangs (the slowest spec takes ~1 min on an idle
// 2-core machine; no single wait takes more than ~30 s), and the one browser is not shared between
// parallel workers.
export default defineConfig({
  testDir: 'e2e',
  outputDir: 'test-results',
  workers: 1,
  fullyParallel: false,
  forbidOnly: !!process.env.CI,
  timeout: 600_000,
  expect: { timeout: 240_000 },
  reporter: 'list',
  use: {
    baseURL: `http://localhost:${port}/`,
    browserName: 'chromium',
    headless: true,
    launchOptions: { executablePath: chromiumPath, args: chromiumArgs },
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
  },
  webServer: {
    command: 'npm run serve',
    url: `http://localhost:${port}/`,
    reuseExistingServer: !process.env.CI,
    timeout: 180_000,
  },
});
