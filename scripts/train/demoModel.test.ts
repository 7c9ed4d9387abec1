// The shipped demo model's files agree with each other and with the training setup: every shard
// matches its manifest record (size, MD5, tensors back to back), the template's special-token ids
// are the tokenizer's, the system message is the one the training chats used, and it stays small.
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { groupQuantize } from '../mlc-format.mjs';

const DIR = new URL('../../public/models/kvchat-demo/', import.meta.url);
const read = (name: string) => readFileSync(new URL(name, DIR));
const json = (name: string) => JSON.parse(read(name).toString('utf8'));

describe('public/models/kvchat-demo', () => {
  it('has shards that match tensor-cache.json', () => {
    const manifest = json('tensor-cache.json');
    for (const shard of manifest.records) {
      const bytes = read(shard.dataPath);
      expect(bytes.length).toBe(shard.nbytes);
      expect(createHash('md5').update(bytes).digest('hex')).toBe(shard.md5sum);
      let offset = 0;
      for (const record of shard.records) {
        expect(record.byteOffset, record.name).toBe(offset);
        offset += record.nbytes;
      }
      expect(offset).toBe(shard.nbytes);
    }
  });

  it('names the tokenizer\'s special-token ids and the training system message', () => {
    const config = json('mlc-chat-config.json');
    const ids = Object.fromEntries(json('tokenizer.json').added_tokens.map((t: { content: string; id: number }) => [t.content, t.id]));
    expect(config.bos_token_id).toBe(ids['<|begin_of_text|>']);
    expect(config.conv_template.stop_token_ids).toEqual([ids['<|end_of_text|>'], ids['<|eot_id|>']]);
    expect(config.conv_template.system_prefix_token_ids).toEqual([ids['<|begin_of_text|>']]);
    const prep = readFileSync(new URL('prep_corpus.py', import.meta.url), 'utf8');
    expect(prep).toContain(`SYSTEM_MESSAGE = '${config.conv_template.system_message}'`);
  });

  it('stays under 25 MB', () => {
    const files = ['mlc-chat-config.json', 'tensor-cache.json', 'tokenizer.json', ...json('tensor-cache.json').records.map((r: { dataPath: string }) => r.dataPath)];
    expect(files.reduce((n, f) => n + statSync(new URL(f, DIR)).size, 0)).toBeLessThan(25e6);
  });
});

describe('groupQuantize', () => {
  it('maps a group to codes 0..14 around the zero point 7, 8 per word, low nibble first', () => {
    // One row of 32: w_k = (k - 16) / 16, max |w| = 1, f32 scale 1/7: code = round(7 w + 7).
    const values = Float64Array.from({ length: 32 }, (_, k) => (k - 16) / 16);
    const { qWeight, scale } = groupQuantize(values, 1, 32, 'float32');
    expect(scale[0]).toBeCloseTo(1 / 7, 7);
    const codes = Array.from({ length: 32 }, (_, k) => (qWeight[k >> 3] >>> (4 * (k & 7))) & 0xf);
    expect([codes[0], codes[16], codes[31]]).toEqual([0, 7, 14]); // w = -1, 0, 15/16
    expect(codes.every((c, k) => k === 0 || c >= codes[k - 1])).toBe(true);
  });
});
