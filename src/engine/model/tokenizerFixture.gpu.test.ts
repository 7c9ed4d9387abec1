// The fixtures' tokenizer.json through @mlc-ai/web-tokenizers (WASM; it does not load in plain
// Node, hence browser mode): text round-trips, and each special token the chat template relies on
// encodes to the single id that mlc-chat-config.json names.
import { Tokenizer } from '@mlc-ai/web-tokenizers';
import { describe, expect, it } from 'vitest';

const SPECIAL_TOKENS: Record<string, string[]> = {
  'llama-q4f16': ['<|begin_of_text|>', '<|end_of_text|>', '<|start_header_id|>', '<|end_header_id|>', '<|eot_id|>'],
  'qwen2-q4f32': ['<|endoftext|>', '<|im_start|>', '<|im_end|>'],
};

const TEXTS = [
  'Hello, world! How are you today?',
  'The assistant thinks about what the user wants.\n\n  Indented line\twith a tab.',
  'Ünïcödé, emoji 🙂 and 日本語 go through byte tokens.',
];

async function fixtureTokenizer(fixture: string) {
  const [tokenizerJson, config] = await Promise.all([
    fetch(`/fixtures/${fixture}/tokenizer.json`).then((r) => r.arrayBuffer()),
    fetch(`/fixtures/${fixture}/mlc-chat-config.json`).then((r) => r.json()),
  ]);
  return { tokenizer: await Tokenizer.fromJSON(tokenizerJson), config };
}

describe('fixture tokenizers', () => {
  it.each(Object.keys(SPECIAL_TOKENS))('%s: round-trips text and keeps special tokens whole', async (fixture) => {
    const { tokenizer, config } = await fixtureTokenizer(fixture);
    for (const text of TEXTS) {
      const ids = Array.from(tokenizer.encode(text));
      expect(ids.every((id) => id >= 0 && id < config.vocab_size)).toBe(true);
      expect(tokenizer.decode(Int32Array.from(ids))).toBe(text);
    }
    // Merges make common English shorter than its bytes.
    expect(tokenizer.encode(TEXTS[1]).length).toBeLessThan(TEXTS[1].length / 2);

    const specialIds = SPECIAL_TOKENS[fixture].map((token) => {
      const ids = Array.from(tokenizer.encode(token));
      expect(ids, token).toHaveLength(1);
      return ids[0];
    });
    const conv = config.conv_template;
    for (const id of [...conv.stop_token_ids, ...(conv.system_prefix_token_ids ?? []), config.bos_token_id]) {
      expect(specialIds).toContain(id);
    }
    expect(tokenizer.getVocabSize()).toBe(config.active_vocab_size);
  });
});
