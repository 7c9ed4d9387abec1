import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, test, type Page } from '@playwright/test';

declare global {
  interface Window {
    recordReplyLength(length: number): void;
  }
}

/** The built service worker, as `vite preview` serves it. */
const SERVICE_WORKER_FILE = fileURLToPath(new URL('../dist/sw.js', import.meta.url));

interface ManifestIcon {
  src: string;
  sizes: string;
  type: string;
  purpose?: string;
}

/** Waits until the service worker controls the page, so what the page loads is served (and cached) by it. */
async function waitForServiceWorker(page: Page): Promise<void> {
  await page.waitForFunction(() => navigator.serviceWorker.controller !== null);
}

test('installable: the manifest has what browsers ask for, and the service worker controls the page', async ({ page }) => {
  await page.goto('/');
  await waitForServiceWorker(page);
  expect(await page.evaluate(() => navigator.serviceWorker.controller?.scriptURL)).toMatch(/\/sw\.js$/);

  const manifestUrl = new URL((await page.locator('link[rel="manifest"]').getAttribute('href'))!, page.url());
  const manifestResponse = await page.request.get(manifestUrl.href);
  expect(manifestResponse.ok()).toBe(true);
  const manifest = await manifestResponse.json();
  expect(manifest).toMatchObject({ name: 'kvchat', short_name: 'kvchat', display: 'standalone', start_url: '/', scope: '/' });
  expect(manifest.theme_color).toMatch(/^#[0-9a-f]{6}$/i);
  expect(manifest.background_color).toMatch(/^#[0-9a-f]{6}$/i);
  const icons: ManifestIcon[] = manifest.icons;
  const anyPurpose = icons.filter((icon) => (icon.purpose ?? 'any').split(' ').includes('any'));
  expect(anyPurpose.map((icon) => icon.sizes)).toEqual(expect.arrayContaining(['192x192', '512x512']));
  expect(icons.some((icon) => icon.purpose === 'maskable' && icon.sizes === '512x512')).toBe(true);
  for (const icon of icons) {
    const response = await page.request.get(new URL(icon.src, manifestUrl).href);
    expect(response.headers()['content-type'], icon.src).toBe('image/png');
    const [width, height] = icon.sizes.split('x').map(Number);
    // The PNG's IHDR: width and height, big-endian, at bytes 16 and 20.
    const png = await response.body();
    expect([png.readUInt32BE(16), png.readUInt32BE(20)], icon.src).toEqual([width, height]);
  }
});

test('after one visit online, the app and the model it loaded work with the network off', async ({ page, context }) => {
  await page.goto('/');
  await waitForServiceWorker(page);
  await page.getByRole('combobox', { name: 'Bundled model' }).selectOption('llama-q4f16');
  await expect(page.getByTestId('model-url')).toHaveValue(/\/fixtures\/llama-q4f16\/$/);
  const modelUrl = await page.getByTestId('model-url').inputValue();
  await page.getByTestId('load-button').click();
  await expect(page.getByTestId('model-ready')).toBeVisible();

  // The engine cached the model; the list shows it complete, with its size.
  await expect(page.getByTestId('model-cached')).toBeVisible();
  const offlineModels = page.getByTestId('offline-models');
  await offlineModels.locator('summary').click();
  await expect(offlineModels).toContainText('Available offline: 1 model');
  await expect(page.getByTestId('storage-estimate')).toContainText(/browser storage used [\d.]+ [KMG]?i?B of/);
  const cachedModel = offlineModels.locator(`[data-testid="offline-model"][data-url="${modelUrl}"]`);
  await expect(cachedModel).toHaveAttribute('data-complete', 'true');
  await expect(cachedModel).toContainText(/[\d.]+ KiB, \d+ files/);

  // Model files live only in the engine's cache; the service worker precaches the app shell and no model.
  const cacheContents = await page.evaluate(async () => {
    const names = await caches.keys();
    const urls: Record<string, string[]> = {};
    for (const name of names) urls[name] = (await (await caches.open(name)).keys()).map((request) => new URL(request.url).pathname);
    return urls;
  });
  expect(Object.keys(cacheContents).sort()).toEqual(['kvchat-models', expect.stringMatching(/^kvchat-precache-v2-/)]);
  const precache = Object.entries(cacheContents).find(([name]) => name.startsWith('kvchat-precache'))![1];
  expect(precache).toEqual(expect.arrayContaining(['/index.html', '/manifest.webmanifest', expect.stringMatching(/^\/assets\/engine\.worker-.*\.js$/)]));
  expect(precache.filter((path) => path.startsWith('/fixtures/'))).toEqual([]);
  expect(cacheContents['kvchat-models']!.every((path) => path.startsWith('/fixtures/llama-q4f16/'))).toBe(true);

  await context.setOffline(true);
  const reloaded = await page.reload();
  expect(reloaded?.fromServiceWorker()).toBe(true);
  await waitForServiceWorker(page);
  expect(await page.evaluate(() => navigator.onLine)).toBe(false);

  const streamedLengths: number[] = [];
  await page.exposeFunction('recordReplyLength', (length: number) => streamedLengths.push(length));
  await page.evaluate(() => {
    new MutationObserver(() => {
      const text = document.querySelector('[data-testid="message"][data-role="assistant"][data-streaming="true"] [data-testid="message-text"]');
      if (text) window.recordReplyLength(text.textContent?.length ?? 0);
    }).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
  });

  // No conversation was started before the reload, so the preselected default is back: pick the
  // cached fixture again, which the model bar marks as available offline.
  await page.getByRole('combobox', { name: 'Bundled model' }).selectOption('llama-q4f16');
  await expect(page.getByTestId('model-url')).toHaveValue(modelUrl);
  await expect(page.getByTestId('model-cached')).toBeVisible();
  await page.getByTestId('load-button').click();
  await expect(page.getByTestId('model-ready')).toBeVisible();
  // A reply of a known length: it streams at least two pieces whatever the fixture samples.
  await page.getByTestId('setting-ignoreEos').check();
  await page.getByTestId('setting-maxTokens').fill('12');
  await page.getByTestId('setting-maxTokens').press('Enter');
  await page.getByTestId('message-input').fill('Hello offline');
  await page.getByTestId('send-button').click();
  const reply = page.locator('[data-testid="message"][data-role="assistant"]');
  await expect(reply.getByTestId('usage')).toContainText('12 completion tokens');
  await expect(reply.getByTestId('message-text')).not.toBeEmpty();
  const growingLengths = new Set(streamedLengths.filter((length) => length > 0));
  expect(growingLengths.size, `lengths seen while streaming: ${streamedLengths.join(',')}`).toBeGreaterThanOrEqual(2);
  await expect(page.getByTestId('error')).toBeHidden();

  // Deleting the model from the cache makes it a download again, which offline cannot do.
  await page.getByTestId('unload-button').click();
  await offlineModels.locator('summary').click();
  await cachedModel.getByTestId('offline-model-delete').click();
  await expect(cachedModel).toHaveCount(0);
  await expect(offlineModels).toContainText('Available offline: 0 models');
  await expect(page.getByTestId('model-cached')).toBeHidden();
  await page.getByTestId('load-button').click();
  await expect(page.getByTestId('error')).toHaveAttribute('data-code', 'model-fetch');
  await expect(page.getByTestId('needs-network')).toContainText('You are offline');
});

test('offline, a model that was never downloaded says that it needs the network', async ({ page, context }) => {
  await page.goto('/');
  await waitForServiceWorker(page);
  await context.setOffline(true);
  await page.getByRole('combobox', { name: 'Bundled model' }).selectOption('qwen2-q4f32');
  await expect(page.getByTestId('model-cached')).toBeHidden();
  await page.getByTestId('load-button').click();
  const error = page.getByTestId('error');
  await expect(error).toHaveAttribute('data-code', 'model-fetch');
  await expect(error).toContainText('qwen2-q4f32');
  await expect(page.getByTestId('needs-network')).toContainText('You are offline, and this model is not cached in the browser: loading it needs the network');
  await expect(page.getByTestId('model-ready')).toBeHidden();

  // Back online, the same load goes through and the notice is gone.
  await context.setOffline(false);
  await page.getByTestId('load-button').click();
  await expect(page.getByTestId('model-ready')).toBeVisible();
  await expect(page.getByTestId('needs-network')).toBeHidden();
});

test('a new version waits for the user: "Update available", then Reload switches to it', async ({ page }) => {
  await page.goto('/');
  await waitForServiceWorker(page);
  await expect(page.getByTestId('update-prompt')).toBeHidden();

  // A new release, as the browser sees it: a service worker script that differs by a byte. The
  // browser fetches the script itself (page and context routes do not see it), so the built file
  // that `vite preview` serves changes for the length of the test.
  const original = readFileSync(SERVICE_WORKER_FILE, 'utf8');
  try {
    writeFileSync(SERVICE_WORKER_FILE, `${original}\n// next release\n`);
    await page.evaluate(async () => {
      await (await navigator.serviceWorker.ready).update();
    });
    const prompt = page.getByTestId('update-prompt');
    await expect(prompt).toContainText('Update available');
    // The new version waits; the running one keeps the page until the user says so.
    expect(await page.evaluate(async () => (await navigator.serviceWorker.ready).waiting?.state)).toBe('installed');

    await page.evaluate(() => ((window as unknown as { beforeUpdate: boolean }).beforeUpdate = true));
    await prompt.getByRole('button', { name: 'Reload' }).click();
    await page.waitForFunction(() => !(window as unknown as { beforeUpdate?: boolean }).beforeUpdate);
  } finally {
    writeFileSync(SERVICE_WORKER_FILE, original);
  }
  await waitForServiceWorker(page);
  await expect(page.getByTestId('update-prompt')).toBeHidden();
  expect(await page.evaluate(async () => (await navigator.serviceWorker.ready).waiting)).toBeNull();
});
