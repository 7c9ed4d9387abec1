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
  return {
    encode: (text) => Array.from(tokenizer.encode(text)),
    decode: (ids) => tokenizer.decode(Int32Array.from(ids)),
  };
}
