import { describe, expect, it } from 'vitest';
import { StreamDecoder, type TextCodec } from './streamDecoder';

// A byte-level codec: each token is one UTF-8 byte, so multi-byte characters span several tokens.
const bytes: TextCodec = {
  encode: (text) => Array.from(new TextEncoder().encode(text)),
  decode: (ids) => new TextDecoder().decode(Uint8Array.from(ids)),
};

describe('StreamDecoder', () => {
  it('streams text whose concatenation equals the full decode, never splitting a character', () => {
    const text = 'héllo → 世界 🙂!';
    const decoder = new StreamDecoder(bytes);
    const deltas = bytes.encode(text).map((t) => decoder.push(t));
    expect(deltas.join('')).toBe(text);
    expect(deltas.some((d) => d.includes('\uFFFD'))).toBe(false);
    // The 4-byte emoji arrives as one delta on its last byte, with three empty deltas before it.
    const emojiAt = deltas.findIndex((d) => d.includes('🙂'));
    expect(deltas.slice(emojiAt - 3, emojiAt)).toEqual(['', '', '']);
  });
});
