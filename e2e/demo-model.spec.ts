import { expect, test } from '@playwright/test';

// The trained demo model (public/models/kvchat-demo) is what the app opens with: it loads from the
// app's own origin and answers a dictionary question, the kind of chat it was trained on, in the
// training chats' shape. Greedy decoding (temperature 0) keeps the reply reproducible.
test('the default demo model loads and answers a definition question in English', async ({ page }) => {
  // A 30M-parameter model decodes at ~0.1-1 token/s on SwiftShader with busy cores; this test takes
  // ~1.5 min on an idle 2-core machine, and the limits below only catch a hang.
  test.setTimeout(1_200_000);
  await page.goto('/');
  await expect(page.getByTestId('model-url')).toHaveValue(/\/models\/kvchat-demo\/$/);
  await page.getByTestId('load-button').click();
  await expect(page.getByTestId('model-ready')).toBeVisible();

  await page.getByTestId('setting-temperature').fill('0');
  await page.getByTestId('setting-maxTokens').fill('8');
  const input = page.getByTestId('message-input');
  await input.fill('What does abdication mean?');
  await input.press('Enter');

  const reply = page.locator('[data-testid="message"][data-role="assistant"]').first();
  await expect(reply.getByTestId('usage')).toContainText(/\d+ completion tokens/, { timeout: 900_000 });
  const text = (await reply.getByTestId('message-text').textContent()) ?? '';
  // The training chats' answer shape, "Abdication (noun): ...", after an optional newline (see the
  // model card); Webster 1913: "The act of abdicating; the renunciation of a high office, ..."
  expect(text).toMatch(/^\s*Abdication \(noun\)/);
  expect(text).not.toMatch(/<\|/);
  await expect(page.getByTestId('error')).toBeHidden();
});
