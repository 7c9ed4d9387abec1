import { expect, test, type Locator, type Page } from '@playwright/test';

declare global {
  interface Window {
    recordReplyLength(length: number): void;
  }
}

/** Loads a bundled fixture by name (the preselected default may change as models are added). */
async function loadFixture(page: Page, name: string): Promise<void> {
  await page.getByRole('combobox', { name: 'Bundled model' }).selectOption(name);
  await page.getByTestId('load-button').click();
  await expect(page.getByTestId('model-ready')).toBeVisible();
}

async function setMaxTokens(page: Page, tokens: number): Promise<void> {
  await page.getByTestId('setting-maxTokens').fill(String(tokens));
  await page.getByTestId('setting-maxTokens').press('Enter');
}

/** "Ignore end of text": replies run to Max tokens (or Stop), so one can never end by itself
 *  before the test acts on it, and a reply's length is known. */
async function ignoreEndOfText(page: Page): Promise<void> {
  await page.getByTestId('setting-ignoreEos').check();
}

const replies = (page: Page) => page.locator('[data-testid="message"][data-role="assistant"]');

/** Waits until a reply has ended: saved, its usage shown, and the memory stats after it in the store. */
async function replyEnded(reply: Locator): Promise<void> {
  await expect(reply).toHaveAttribute('data-streaming', 'false');
  await expect(reply.getByTestId('usage')).toBeVisible();
}

/** Waits until every write to IndexedDB has committed, so a reload finds it. */
async function saved(page: Page): Promise<void> {
  await expect(page.getByTestId('app')).toHaveAttribute('data-saving', 'false');
}

test('streams a reply token by token, stops one with Stop and one with Esc, regenerates, edits and resends, copies', async ({ page, context }) => {
  await context.grantPermissions(['clipboard-read', 'clipboard-write']);
  // Every length the streaming reply's text takes, as the page renders it.
  const streamedLengths: number[] = [];
  await page.exposeFunction('recordReplyLength', (length: number) => streamedLengths.push(length));
  // Short enough that the transcript scrolls after a few messages.
  await page.setViewportSize({ width: 1280, height: 560 });
  await page.goto('/');
  await page.evaluate(() => {
    new MutationObserver(() => {
      const text = document.querySelector('[data-testid="message"][data-role="assistant"][data-streaming="true"] [data-testid="message-text"]');
      if (text) window.recordReplyLength(text.textContent?.length ?? 0);
    }).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
  });

  await loadFixture(page, 'llama-q4f16');
  await expect(page.getByTestId('load-progress')).toBeHidden();
  await ignoreEndOfText(page);
  await setMaxTokens(page, 24);

  const input = page.getByTestId('message-input');
  await input.fill('Hello');
  await input.press('Enter');
  await expect(page.locator('[data-testid="message"][data-role="user"] [data-testid="message-text"]')).toHaveText('Hello');
  await expect(replies(page).first().getByTestId('usage')).toContainText(/24 completion tokens · [\d.]+ tok\/s decode .* · max tokens reached/);
  const growingLengths = new Set(streamedLengths.filter((length) => length > 0));
  expect(growingLengths.size, `lengths seen while streaming: ${streamedLengths.join(',')}`).toBeGreaterThanOrEqual(2);
  await expect(replies(page).first().getByTestId('message-text')).not.toBeEmpty();
  // The new conversation is saved under the first message.
  await expect(page.getByTestId('conversation')).toHaveText(/Hello/);

  // A long reply, stopped once it has started: it keeps its text and Send works again. It runs
  // until Stop: 4096 tokens, or the fixture's whole 2048-token context, is minutes of decoding here.
  await setMaxTokens(page, 4096);
  await input.fill('Tell me more');
  await page.getByTestId('send-button').click();
  const second = replies(page).nth(1);
  await expect(page.getByTestId('stop-button')).toBeVisible();
  await expect(second.getByTestId('message-text')).not.toBeEmpty();
  await expect(second.getByTestId('streaming')).toContainText(/\d+ tokens · [\d.]+ tok\/s/);

  // The transcript follows the reply while the reader is at the bottom, and stays put once they scroll up.
  const transcript = page.getByTestId('transcript');
  const scrollState = () =>
    transcript.evaluate((element) => ({ top: element.scrollTop, fromBottom: element.scrollHeight - element.scrollTop - element.clientHeight }));
  const replyLength = () => second.getByTestId('message-text').evaluate((element) => element.textContent?.length ?? 0);
  // Taller than the view by more than the follow threshold (48 px), so that at the top the reader
  // is out of the band where the transcript follows.
  await expect.poll(async () => (await scrollState()).top).toBeGreaterThan(100);
  expect((await scrollState()).fromBottom).toBeLessThan(48);
  await transcript.evaluate((element) => element.scrollTo({ top: 0 }));
  const lengthWhenScrolledUp = await replyLength();
  await expect.poll(replyLength).toBeGreaterThan(lengthWhenScrolledUp + 10);
  expect((await scrollState()).top).toBe(0);
  await transcript.evaluate((element) => element.scrollTo({ top: element.scrollHeight }));
  const lengthAtBottom = await replyLength();
  await expect.poll(replyLength).toBeGreaterThan(lengthAtBottom + 10);
  expect((await scrollState()).fromBottom).toBeLessThan(48);

  await input.fill('And then?');
  await expect(page.getByTestId('send-button')).toBeDisabled();
  await page.getByTestId('stop-button').click();
  await expect(page.getByTestId('stop-button')).toBeHidden();
  await expect(second.getByTestId('usage')).toContainText('stopped');
  await expect(second.getByTestId('message-text')).not.toBeEmpty();
  await replyEnded(second);
  await expect(page.getByTestId('send-button')).toBeEnabled();
  await expect(page.getByTestId('error')).toBeHidden();

  // Regenerate replaces the last reply; Esc stops it from anywhere on the page.
  await second.getByTestId('regenerate-button').click();
  await expect(page.getByTestId('stop-button')).toBeVisible();
  await expect(replies(page).nth(1).getByTestId('message-text')).not.toBeEmpty();
  await page.keyboard.press('Escape');
  await expect(page.getByTestId('stop-button')).toBeHidden();
  await expect(replies(page).nth(1).getByTestId('usage')).toContainText('stopped');
  await expect(replies(page).nth(1).getByTestId('message-text')).not.toBeEmpty();
  await replyEnded(replies(page).nth(1));
  await expect(page.getByTestId('message')).toHaveCount(4);

  await page.screenshot({ path: test.info().outputPath('chat.png'), fullPage: true });

  // Edit the first question: everything after it is replaced by one new reply.
  await setMaxTokens(page, 8);
  const firstQuestion = page.locator('[data-testid="message"][data-role="user"]').first();
  await firstQuestion.getByTestId('edit-button').click();
  await page.getByTestId('edit-input').fill('Hello again');
  await page.getByTestId('edit-send').click();
  await expect(page.getByTestId('message')).toHaveCount(2);
  await expect(firstQuestion.getByTestId('message-text')).toHaveText('Hello again');
  await replyEnded(replies(page).first());
  await expect(replies(page).first().getByTestId('usage')).toContainText('8 completion tokens');

  // "Copied" shows for 1.5 s: the page's clock is held while it is read, so a slow machine cannot
  // miss it, then moved on to see the button return.
  await page.clock.install();
  await page.clock.pauseAt(await page.evaluate(() => Date.now() + 1000));
  // Copy puts a message's source text on the clipboard. The question's is known exactly; a reply's
  // is the fixture's random text, whose rendered form (markdown, leading spaces trimmed) can differ.
  const copyButton = firstQuestion.getByTestId('copy-button');
  await copyButton.click();
  await expect(copyButton).toHaveText('Copied');
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe('Hello again');
  await page.clock.runFor(1500);
  await expect(copyButton).toHaveText('Copy');
  await page.clock.resume();

  // Unloading frees the model but keeps the conversation on screen.
  await page.getByTestId('unload-button').click();
  await expect(page.getByTestId('model-ready')).toBeHidden();
  await expect(page.getByTestId('message')).toHaveCount(2);
  await expect(page.getByTestId('send-button')).toBeDisabled();
});

test('conversations persist across a reload, with their settings; new, rename, search and delete', async ({ page }) => {
  await page.goto('/');
  await loadFixture(page, 'llama-q4f16');
  await setMaxTokens(page, 6);
  const input = page.getByTestId('message-input');
  await input.fill('First conversation');
  await input.press('Enter');
  await replyEnded(replies(page).first());
  const firstReply = await replies(page).first().getByTestId('message-text').innerText();

  await page.getByTestId('new-conversation').click();
  await expect(page.getByTestId('message')).toHaveCount(0);
  await setMaxTokens(page, 5);
  await input.fill('Second one');
  await input.press('Enter');
  await replyEnded(replies(page).first());
  await expect(page.getByTestId('conversation')).toHaveCount(2);

  await saved(page);
  await page.reload();
  const conversations = page.getByTestId('conversation');
  await expect(conversations).toHaveCount(2);
  // The latest conversation opens, with its own settings.
  await expect(conversations.first()).toHaveAttribute('data-active', 'true');
  await expect(page.locator('[data-testid="message"][data-role="user"]')).toHaveText(/Second one/);
  await expect(page.getByTestId('setting-maxTokens')).toHaveValue('5');

  await page.getByRole('button', { name: 'First conversation', exact: true }).click();
  await expect(page.getByTestId('setting-maxTokens')).toHaveValue('6');
  await expect(replies(page).first().getByTestId('message-text')).toHaveText(firstReply);
  await expect(replies(page).first().getByTestId('usage')).toContainText('completion tokens');

  await page.getByRole('button', { name: 'Rename “First conversation”' }).click();
  await page.getByTestId('rename-input').fill('Renamed chat');
  await page.getByTestId('rename-input').press('Enter');
  await expect(conversations.nth(1)).toContainText('Renamed chat');
  await expect(conversations.nth(1)).toHaveAttribute('data-active', 'true');

  await page.getByTestId('conversation-search').fill('second');
  await expect(conversations).toHaveCount(1);
  await expect(conversations).toContainText('Second one');
  await page.getByTestId('conversation-search').fill('');
  await expect(conversations).toHaveCount(2);

  await page.getByRole('button', { name: 'Delete “Second one”' }).click();
  await page.getByTestId('confirm-delete').click();
  await expect(conversations).toHaveCount(1);
  await saved(page);
  await page.reload();
  await expect(conversations).toHaveCount(1);
  await expect(conversations).toContainText('Renamed chat');
});

test('a KV setting changed live updates the memory meter: KIVI-2 on a head-dimension-64 model', async ({ page }) => {
  await page.goto('/');
  await page.getByTestId('model-url').fill(new URL('fixtures/llama-d64-q4f16/', page.url()).href);
  await page.getByTestId('load-button').click();
  await expect(page.getByTestId('model-ready')).toBeVisible();
  const meter = page.getByTestId('memory-meter');
  await expect(meter.getByTestId('kv-settings-in-effect')).toHaveText('fp16');
  await expect(page.getByTestId('layer-bar').first()).toBeVisible();

  await setMaxTokens(page, 8);
  const input = page.getByTestId('message-input');
  await input.fill('Hello there, this is a prompt');
  await input.press('Enter');
  await replyEnded(replies(page).first());
  await expect(meter.getByTestId('kv-ratio').locator('[data-ratio]')).toHaveAttribute('data-ratio', /^1(\.0+)?$/);

  // KIVI-4 from the presets, then 2-bit keys and values with no fp16 window, so every token is quantized.
  await page.getByTestId('kv-preset').filter({ hasText: 'Balanced (KIVI-4)' }).click();
  await expect(meter.getByTestId('kv-settings-in-effect')).toHaveText('K4 V4 G32 R128');
  await page.getByTestId('kv-keyBits').selectOption('2');
  await page.getByTestId('kv-valueBits').selectOption('2');
  await page.getByTestId('kv-residualLength').selectOption('0');
  await expect(meter.getByTestId('kv-settings-in-effect')).toHaveText('K2 V2 G32 R0');

  // A value the engine refuses is reported next to the settings, and the ones in effect stay.
  await page.getByTestId('kv-groupSize').selectOption('128');
  await expect(page.getByTestId('kv-error')).toContainText('head dimension');
  await expect(page.getByTestId('kv-groupSize')).toHaveValue('32');

  await input.fill('Tell me something');
  await input.press('Enter');
  // The usage line shows before the reply's final stats reach the meter (a clean clone once read 86
  // tokens here before every figure became 92); the reply has ended once those stats are in.
  await replyEnded(replies(page).nth(1));
  // Every layer holds the whole conversation (no eviction policy): tokens kept per layer = tokens in the cache.
  await expect(meter.getByTestId('layer-tokens')).toHaveCount(2);
  const total = (await meter.getByTestId('kv-tokens').innerText()).split(' / ')[0]!;
  await expect(meter.getByTestId('layer-tokens').first()).toHaveAttribute('data-kept', total);
  const ratio = Number(await meter.getByTestId('kv-ratio').locator('[data-ratio]').getAttribute('data-ratio'));
  expect(ratio).toBeGreaterThan(0);
  expect(ratio).toBeLessThan(0.5);
  await expect(page.getByTestId('kv-error')).toBeHidden();
  await meter.scrollIntoViewIfNeeded();
  await page.screenshot({ path: test.info().outputPath('settings-and-meter.png'), fullPage: true });
  await meter.screenshot({ path: test.info().outputPath('memory-meter.png') });

  // The same screen in dark mode, and at a phone's width with the settings drawer open.
  await page.getByTestId('theme-toggle').click();
  await page.getByTestId('theme-toggle').click();
  await expect(page.locator('html')).toHaveClass(/dark/);
  await page.screenshot({ path: test.info().outputPath('dark.png'), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await expect(page.getByTestId('memory-meter')).toBeHidden();
  await expect(page.getByTestId('new-conversation')).toBeHidden();
  await page.screenshot({ path: test.info().outputPath('phone-chat.png') });
  await page.getByRole('button', { name: 'Chats' }).click();
  await expect(page.getByTestId('new-conversation')).toBeVisible();
  await page.screenshot({ path: test.info().outputPath('phone-conversations.png') });
  await page.getByTestId('conversation').getByRole('button').first().click();
  await expect(page.getByTestId('new-conversation')).toBeHidden();
  await page.getByRole('button', { name: 'Settings', exact: true }).click();
  await expect(page.getByTestId('memory-meter')).toBeVisible();
  await page.screenshot({ path: test.info().outputPath('phone-settings.png') });
});

test('replies render as sanitised markdown: code is highlighted, scripts and handlers never run', async ({ page }) => {
  await page.goto('/');
  await expect(page.getByTestId('new-conversation')).toBeVisible();
  // The app creates the database on start; the test writes only once its stores exist.
  const storesExist = () =>
    page.evaluate(
      () =>
        new Promise<boolean>((resolve, reject) => {
          const request = indexedDB.open('kvchat');
          request.onsuccess = () => {
            resolve(request.result.objectStoreNames.contains('messages'));
            request.result.close();
          };
          request.onerror = () => reject(request.error);
        }),
    );
  await expect.poll(storesExist).toBe(true);
  // A saved conversation whose reply carries hostile HTML, written straight into IndexedDB.
  const hostile = [
    '# Title',
    'Some **bold** and a [link](https://example.com).',
    '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>',
    '<a href="javascript:window.pwned=3">click</a>',
    '```python\ndef f(x):\n    return x + 1\n```',
  ].join('\n\n');
  await page.evaluate(async (content) => {
    const open = () =>
      new Promise<IDBDatabase>((resolve, reject) => {
        const request = indexedDB.open('kvchat');
        request.onsuccess = () => resolve(request.result);
        request.onerror = () => reject(request.error);
      });
    const db = await open();
    const tx = db.transaction(['conversations', 'messages'], 'readwrite');
    const settings = { maxTokens: 8, temperature: 0.7, topP: 0.95, systemPrompt: '' };
    tx.objectStore('conversations').put({
      id: 'hostile', title: 'Markdown test', createdAt: 1, updatedAt: Date.now(), modelUrl: location.href, settings,
      kvSettings: { keyBits: 16, valueBits: 16, groupSize: 32, residualLength: 128, policy: 'none', budgetFraction: 0.2, budgetTokens: 0, sinks: 4, window: 32 },
    });
    tx.objectStore('messages').put({ id: 'q', conversationId: 'hostile', position: 0, role: 'user', content: '<b>not bold</b>' });
    tx.objectStore('messages').put({ id: 'a', conversationId: 'hostile', position: 1, role: 'assistant', content });
    await new Promise((resolve) => (tx.oncomplete = resolve));
    db.close();
  }, hostile);
  await page.reload();

  const reply = replies(page).first().getByTestId('message-text');
  await expect(reply.locator('h1')).toHaveText('Title');
  await expect(reply.locator('strong')).toHaveText('bold');
  await expect(reply.locator('a[href="https://example.com"]')).toHaveAttribute('rel', /noopener/);
  await expect(reply.locator('pre code.language-python .hljs-keyword').first()).toHaveText('def');
  await expect(reply.locator('img, script')).toHaveCount(0);
  await expect(reply.locator('a[href^="javascript:"]')).toHaveCount(0);
  await expect(page.locator('[data-testid="message"][data-role="user"] [data-testid="message-text"]')).toHaveText('<b>not bold</b>');
  // With no img, script or javascript: link in the page (checked above), no handler is left to run later.
  expect(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned)).toBeUndefined();
});
