// Writes a random-weight MLC model folder in a model library's tensor layout (bench/peer/mlc-model.ts),
// with the library itself beside it as model.wasm, for both engines to load over HTTP.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelConfig } from '../../src/engine/model/types';
import {
  byteTokenizerJson, chatConfigJson, planShards, randomParamBytes, tensorCacheJson, type LibraryMetadata,
} from './mlc-model';
import { xorshift32 } from '../random';

/** Writes the random model folder for `cfg` in the library's layout (once per machine) and the library beside it. */
export function writeModelFolder(dir: string, cfg: ModelConfig, meta: LibraryMetadata, wasm: Uint8Array, contextWindow: number): void {
  const marker = join(dir, 'ndarray-cache.json');
  const config = chatConfigJson(cfg, contextWindow, meta.prefillChunkSize);
  const configText = `${JSON.stringify(config, null, 2)}\n`;
  if (existsSync(marker) && readFileSync(join(dir, 'mlc-chat-config.json'), 'utf8') === configText) return;
  mkdirSync(dir, { recursive: true });
  const shards = planShards(meta.params);
  const random = xorshift32(20240611);
  for (const shard of shards) {
    const data = new Uint8Array(shard.nbytes);
    for (const record of shard.records) data.set(randomParamBytes(record, random), record.byteOffset);
    writeFileSync(join(dir, shard.dataPath), data);
  }
  writeFileSync(join(dir, 'mlc-chat-config.json'), configText);
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(byteTokenizerJson()));
  writeFileSync(join(dir, 'model.wasm'), wasm);
  // Last: its presence marks a complete folder.
  writeFileSync(marker, JSON.stringify(tensorCacheJson(meta.params, shards)));
}
