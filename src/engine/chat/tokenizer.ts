// The model's tokenizer: a Hugging Face tokenizer.json through @mlc-ai/web-tokenizers (a WASM build
// of the Rust tokenizers library).
import { Tokenizer } from '@mlc-ai/web-tokenizers';
import { TokenizerMissingError } from '../errors';

import type { TextCodec } from './streamDecoder';

export async function loadTokenizer(json: Uint8Array, url: string): Promise<TextCodec> {
  let tokenizer: Tokenizer;
  try {
    tokenizer = await Tokenizer.fromJSON(json.slice().buffer);
  } catch (err) {
    throw new TokenizerMissingError(url, `it could not be parsed (${String(err)})`);
  }
  const special = specialTokenIds(json);
  return {
    encode: (text) => Array.from(tokenizer.encode(text)),
    // Like skip_special_tokens: control tokens (<|eot_id|>, <|im_start|>, ...) never reach the reply text.
    decode: (ids) => tokenizer.decode(Int32Array.from(ids.filter((id) => !special.has(id)))),
  };
}

function specialTokenIds(json: Uint8Array): Set<number> {
  const parsed = JSON.parse(new TextDecoder().decode(json)) as { added_tokens?: { id: number; special?: boolean }[] };
  return new Set((parsed.added_tokens ?? []).filter((t) => t.special).map((t) => t.id));
}
