import { expect, test } from '@playwright/test';

declare global {
  interface Window {
    recordReplyLength(length: number): void;
  }
}

test('loads the bundled model, streams a reply token by token, and stops the next one mid-way', async ({ page }) => {
  // Every length the streaming reply's text takes, as the page renders it.
  const streamedLengths: number[] = [];
  await page.exposeFunction('recordReplyLength', (length: number) => streamedLengths.push(length));
  await page.goto('/');
  await page.evaluate(() => {
    new MutationObserver(() => {
      const text = document.querySelector('[data-testid="message"][data-role="assistant"][data-streaming="true"] [data-testid="message-text"]');
      if (text) window.recordReplyLength(text.textContent?.length ?? 0);
    }).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
  });

  await expect(page.getByTestId('model-url')).toHaveValue(/\/fixtures\/llama-q4f16\/$/);
  await page.getByTestId('load-button').click();
  await expect(page.getByTestId('model-ready')).toBeVisible();
  await expect(page.getByTestId('load-progress')).toBeHidden();

  const input = page.getByTestId('message-input');
  const replies = page.locator('[data-testid="message"][data-role="assistant"]');
  await input.fill('Hello');
  await input.press('Enter');
  await expect(page.locator('[data-testid="message"][data-role="user"]')).toHaveText('Hello');
  await expect(replies.first().getByTestId('usage')).toContainText(/\d+ completion tokens · [\d.]+ tok\/s decode/);
  const growingLengths = new Set(streamedLengths.filter((length) => length > 0));
  expect(growingLengths.size, `lengths seen while streaming: ${streamedLengths.join(',')}`).toBeGreaterThanOrEqual(2);
  await expect(replies.first().getByTestId('message-text')).not.toBeEmpty();

  // A long reply, stopped once it has started: it keeps its text and Send works again.
  await page.getByTestId('setting-maxTokens').fill('4096');
  await input.fill('Tell me more');
  await page.getByTestId('send-button').click();
  const second = replies.nth(1);
  await expect(page.getByTestId('stop-button')).toBeVisible();
  await expect(second.getByTestId('message-text')).not.toBeEmpty();
  await input.fill('And then?');
  await expect(page.getByTestId('send-button')).toBeDisabled();
  await page.getByTestId('stop-button').click();
  await expect(page.getByTestId('stop-button')).toBeHidden();
  await expect(second.getByTestId('usage')).toContainText('stopped');
  await expect(second.getByTestId('message-text')).not.toBeEmpty();
  await expect(page.getByTestId('send-button')).toBeEnabled();
  await expect(page.getByTestId('error')).toBeHidden();

  await page.screenshot({ path: test.info().outputPath('chat.png'), fullPage: true });

  // Unloading frees the model but keeps the conversation on screen.
  await page.getByTestId('unload-button').click();
  await expect(page.getByTestId('model-ready')).toBeHidden();
  await expect(page.getByTestId('message')).toHaveCount(4);
  await expect(page.getByTestId('send-button')).toBeDisabled();
});
