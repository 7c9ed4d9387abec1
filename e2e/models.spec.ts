import { expect, test } from '@playwright/test';

test("web-llm's catalog lists the models the engine runs, and Use puts one in the model bar", async ({ page }) => {
  await page.goto('/');
  const catalog = page.getByTestId('model-catalog');
  await catalog.locator('summary').click();
  await page.getByRole('searchbox', { name: 'Filter models' }).fill('smollm2 135m q0f32');
  const row = catalog.getByTestId('catalog-model');
  await expect(row).toHaveCount(1);
  await expect(row).toContainText('SmolLM2-135M-Instruct-q0f32-MLC');
  await expect(row).toContainText('llama q0f32');
  await row.getByRole('button', { name: 'Use' }).click();
  await expect(page.getByTestId('model-url')).toHaveValue('https://huggingface.co/mlc-ai/SmolLM2-135M-Instruct-q0f32-MLC/resolve/main/');
  await expect(row.getByRole('button', { name: 'Selected' })).toHaveAttribute('aria-pressed', 'true');
  await page.screenshot({ path: test.info().outputPath('model-catalog.png'), fullPage: true });
});

test('a download shows bytes and can be cancelled; loading again finishes it', async ({ page }) => {
  // The first weight shard arrives; the others wait until the test lets them through, so the load
  // is still running, with bytes to show, when Cancel is pressed.
  let release: () => void = () => {};
  const released = new Promise<void>((resolve) => (release = resolve));
  await page.route(/\/fixtures\/llama-q4f16\/params_shard_[1-9]\d*\.bin$/, async (route) => {
    await released;
    await route.continue();
  });
  await page.goto('/');
  await page.getByRole('combobox', { name: 'Bundled model' }).selectOption('llama-q4f16');
  await page.getByTestId('load-button').click();
  const progress = page.getByTestId('load-progress');
  await expect(progress).toContainText(/[\d.]+ (B|KiB) of [\d.]+ KiB/);
  await page.getByTestId('cancel-load').click();
  release();
  await expect(progress).toBeHidden();
  await expect(page.getByTestId('error')).toBeHidden();
  await expect(page.getByTestId('model-ready')).toBeHidden();

  await page.getByTestId('load-button').click();
  await expect(page.getByTestId('model-ready')).toBeVisible();
  await expect(page.getByTestId('memory-meter')).toBeVisible();
});
