// The fixture generator: byte-identical output across runs, and the format properties the engine
// relies on (checked on the files written, independently of the loader).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const SCRIPT = new URL('./gen-fixtures.mjs', import.meta.url).pathname;
const FIXTURES = ['llama-q4f16', 'qwen2-q4f32', 'llama-q0f32'];

interface TensorRecord { name: string; shape: number[]; dtype: string; format: string; nbytes: number; byteOffset: number }
interface ShardRecord { dataPath: string; format: string; nbytes: number; md5sum: string; records: TensorRecord[] }

/** A generator run is a child process (~0.6 s); the limit is a hang detector for a busy machine, not a speed check. */
const GENERATOR_TIMEOUT_MS = 60_000;

const dirs: string[] = [];
const runGenerator = () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvchat-fixtures-'));
  dirs.push(dir);
  execFileSync(process.execPath, [SCRIPT, dir]);
  return dir;
};

let outDir: string;
beforeAll(() => {
  outDir = runGenerator();
}, GENERATOR_TIMEOUT_MS);
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const readJson = (fixture: string, file: string) => JSON.parse(readFileSync(join(outDir, fixture, file), 'utf8'));

describe('gen-fixtures', () => {
  it('writes byte-identical files on every run', () => {
    const second = runGenerator();
    for (const fixture of FIXTURES) {
      const files = readdirSync(join(outDir, fixture)).sort();
      expect(readdirSync(join(second, fixture)).sort()).toEqual(files);
      for (const file of files) {
        expect(readFileSync(join(second, fixture, file)).equals(readFileSync(join(outDir, fixture, file))), `${fixture}/${file}`).toBe(true);
      }
    }
  }, GENERATOR_TIMEOUT_MS);

  it.each(FIXTURES)('%s: shards match their manifest records, sizes and md5sums', (fixture) => {
    const manifest = readJson(fixture, 'tensor-cache.json') as { metadata: Record<string, number>; records: ShardRecord[] };
    expect(manifest.records.length).toBeGreaterThanOrEqual(2);
    const tensors = manifest.records.flatMap((s) => s.records);
    expect(manifest.metadata.ParamSize).toBe(tensors.length);
    for (const shard of manifest.records) {
      const data = readFileSync(join(outDir, fixture, shard.dataPath));
      expect(data.length).toBe(shard.nbytes);
      expect(createHash('md5').update(data).digest('hex')).toBe(shard.md5sum);
      let offset = 0;
      for (const rec of shard.records) {
        expect(rec.byteOffset).toBe(offset);
        const count = rec.shape.reduce((a, b) => a * b, 1);
        // f32-to-bf16 stores float32 as 2-byte bf16; float16 and uint32 keep their width.
        expect(rec.format).toBe('f32-to-bf16');
        expect(rec.nbytes).toBe(count * { float32: 2, float16: 2, uint32: 4 }[rec.dtype]!);
        offset += rec.nbytes;
      }
      expect(offset).toBe(shard.nbytes);
    }
  });

  it.each(['llama-q4f16', 'qwen2-q4f32'])('%s: every 32-weight group uses code 0 or 14 (scale = max|w| / 7)', (fixture) => {
    const manifest = readJson(fixture, 'tensor-cache.json') as { records: ShardRecord[] };
    const qWeights = manifest.records.flatMap((s) => s.records.filter((r) => r.name.endsWith('.q_weight')).map((r) => ({ r, s })));
    expect(qWeights.length).toBeGreaterThan(0);
    for (const { r, s } of qWeights) {
      const data = readFileSync(join(outDir, fixture, s.dataPath));
      const words = new Uint32Array(data.buffer.slice(data.byteOffset + r.byteOffset, data.byteOffset + r.byteOffset + r.nbytes));
      const [rows, wordsPerRow] = r.shape;
      for (let row = 0; row < rows; row++) {
        for (let group = 0; group < wordsPerRow / 4; group++) {
          const codes: number[] = [];
          for (let w = 0; w < 4; w++) {
            const word = words[row * wordsPerRow + group * 4 + w];
            for (let j = 0; j < 8; j++) codes.push((word >>> (4 * j)) & 15);
          }
          expect(Math.max(...codes), `${r.name} row ${row}`).toBeLessThanOrEqual(14);
          expect(codes.includes(0) || codes.includes(14), `${r.name} row ${row} group ${group}`).toBe(true);
        }
      }
    }
  });

  it.each(FIXTURES)('%s: template stop ids and bos/eos are the tokenizer\'s special tokens', (fixture) => {
    const config = readJson(fixture, 'mlc-chat-config.json');
    const tokenizer = readJson(fixture, 'tokenizer.json') as { added_tokens: { id: number; content: string }[]; model: { vocab: Record<string, number> } };
    const special = new Map(tokenizer.added_tokens.map((t) => [t.content, t.id]));
    const conv = config.conv_template;
    for (const id of [...conv.stop_token_ids, ...(conv.system_prefix_token_ids ?? []), config.bos_token_id, ...config.eos_token_id]) {
      expect([...special.values()]).toContain(id);
    }
    const firstSpecial = Object.keys(tokenizer.model.vocab).length;
    expect(tokenizer.added_tokens.map((t) => t.id)).toEqual(tokenizer.added_tokens.map((_, i) => firstSpecial + i));
    expect(config.active_vocab_size).toBe(firstSpecial + special.size);
    expect(config.active_vocab_size).toBeLessThanOrEqual(config.vocab_size);
  });
});
