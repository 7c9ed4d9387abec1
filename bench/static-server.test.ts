// The fixture server: files by URL with their length, 404 for anything outside the served folder.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { serveFolder } from './static-server';

const root = mkdtempSync(join(tmpdir(), 'kvchat-serve-'));
writeFileSync(join(root, 'mlc-chat-config.json'), '{"a":1}');
const server = await serveFolder(root);
afterAll(() => server.close());

describe('serveFolder', () => {
  it('serves a file with its content type and length', async () => {
    const res = await fetch(`${server.url}mlc-chat-config.json`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(res.headers.get('content-length')).toBe('7');
    expect(await res.json()).toEqual({ a: 1 });
  });

  it('answers 404 for missing files, folders and paths escaping the root', async () => {
    for (const path of ['missing.bin', '', '%2e%2e/%2e%2e/etc/passwd', '..%2f..%2fetc%2fpasswd']) {
      expect((await fetch(`${server.url}${path}`)).status, path).toBe(404);
    }
  });
});
