import { chromium, expect, test } from '@playwright/test';
import { chromiumArgs, chromiumPath } from './chromium';

test('a browser without WebGPU gets the no-WebGPU panel instead of the chat', async ({ baseURL }) => {
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    args: chromiumArgs.filter((flag) => flag !== '--enable-unsafe-webgpu'),
    headless: true,
  });
  try {
    const page = await browser.newPage();
    await page.goto(baseURL!);
    await expect(page.getByTestId('no-webgpu')).toContainText('WebGPU is not available in this browser');
    await expect(page.getByTestId('no-webgpu')).toContainText('gave kvchat no GPU adapter');
    await expect(page.getByTestId('no-webgpu')).toContainText('chrome://flags/#enable-unsafe-webgpu');
    await expect(page.getByTestId('load-button')).toHaveCount(0);
    await page.screenshot({ path: test.info().outputPath('no-webgpu.png'), fullPage: true });
  } finally {
    await browser.close();
  }
});

test('a model URL that 404s shows the error with a hint, and the page keeps working', async ({ page }) => {
  // `vite preview` answers unknown paths with index.html (its SPA fallback), so the 404 comes from
  // the route; requests from the engine's worker go through it too.
  await page.route('**/fixtures/no-such-model/**', (route) => route.fulfill({ status: 404, body: 'Not Found' }));
  await page.goto('/');
  await page.getByTestId('model-url').fill(new URL('fixtures/no-such-model/', page.url()).href);
  await page.getByTestId('load-button').click();
  const error = page.getByTestId('error');
  await expect(error).toHaveAttribute('data-code', 'model-fetch');
  await expect(error).toContainText('no-such-model');
  await expect(error).toContainText('Check the model URL');
  await expect(error.getByTestId('error-action')).toHaveText('Load again');
  await expect(page.getByTestId('model-ready')).toBeHidden();
  await page.screenshot({ path: test.info().outputPath('download-failed.png'), fullPage: true });

  await page.getByRole('combobox', { name: 'Bundled model' }).selectOption('llama-q4f16');
  await expect(page.getByTestId('model-url')).toHaveValue(/\/fixtures\/llama-q4f16\/$/);
  await page.getByTestId('load-button').click();
  await expect(page.getByTestId('model-ready')).toBeVisible();
  await expect(error).toBeHidden();
  await page.getByTestId('message-input').fill('Hi');
  await page.getByTestId('send-button').click();
  await expect(page.getByTestId('usage')).toBeVisible();
});

test('an engine failure mid-reply offers "Restart engine": a fresh worker loads the model, the conversation stays', async ({ page }) => {
  await page.goto('/');
  await page.getByRole('combobox', { name: 'Bundled model' }).selectOption('llama-q4f16');
  await page.getByTestId('load-button').click();
  await expect(page.getByTestId('model-ready')).toBeVisible();
  // The reply runs until the failure ends it: "Ignore end of text", and 4096 tokens (the fixture's
  // whole context) is minutes of decoding here.
  await page.getByTestId('setting-ignoreEos').check();
  await page.getByTestId('setting-maxTokens').fill('4096');
  await page.getByTestId('message-input').fill('Hello');
  await page.getByTestId('message-input').press('Enter');
  const reply = page.locator('[data-testid="message"][data-role="assistant"]');
  await expect(reply.getByTestId('message-text')).not.toBeEmpty();

  // A failure outside any request inside the engine's worker (as a GPU callback would raise):
  // the worker reports it and the reply in flight fails.
  const engineWorker = page.workers().find((worker) => worker.url().includes('engine.worker'));
  expect(engineWorker, page.workers().map((w) => w.url()).join(', ')).toBeDefined();
  await engineWorker!.evaluate(() => {
    void Promise.reject(new Error('the GPU went away'));
  });
  const error = page.getByTestId('error');
  await expect(error).toHaveAttribute('data-code', 'internal');
  await expect(error).toContainText('the GPU went away');
  await expect(page.getByTestId('stop-button')).toBeHidden();
  await page.screenshot({ path: test.info().outputPath('engine-failed.png'), fullPage: true });
  const partial = await reply.getByTestId('message-text').innerText();

  await error.getByTestId('error-action').filter({ hasText: 'Restart engine' }).click();
  await expect(page.getByTestId('model-ready')).toBeVisible();
  await expect(error).toBeHidden();
  // Read back the way `partial` was read: the tiny model's reply can hold control characters, which
  // innerText and toHaveText's textContent treat differently.
  await expect.poll(() => reply.getByTestId('message-text').innerText()).toBe(partial);
  await page.getByTestId('setting-maxTokens').fill('4');
  await page.getByTestId('message-input').fill('Still there?');
  await page.getByTestId('message-input').press('Enter');
  await expect(reply.nth(1).getByTestId('usage')).toContainText('4 completion tokens');
  await expect(page.getByTestId('message')).toHaveCount(4);
});
