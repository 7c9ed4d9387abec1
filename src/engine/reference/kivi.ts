// CPU reference of KIVI quantization (DESIGN §5.2), producing blocks packed exactly as the GPU
// stores them (src/engine/kv/layout.ts), so GPU and CPU caches compare word for word.
import type { KiviShape } from '../kv/layout';
import { keyBlockWords, valueBlockWords } from '../kv/layout';
import { floatToHalf, halfToFloat } from './f16';

const fr = Math.fround;

export interface QuantizedGroup {
  codes: number[];
  /** f16 values (scale and min as stored). */
  scale: number;
  min: number;
}

/** Asymmetric b-bit quantization of one group of f16 values, in f32 arithmetic like the kernels. */
export function quantizeGroup(x: ArrayLike<number>, bits: number): QuantizedGroup {
  const maxCode = 2 ** bits - 1;
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < x.length; i++) {
    lo = Math.min(lo, x[i]);
    hi = Math.max(hi, x[i]);
  }
  const min = lo;
  const scale = halfToFloat(floatToHalf(fr(fr(hi - lo) * fr(1 / maxCode))));
  const codes = Array.from({ length: x.length }, (_, i) => (scale === 0 ? 0 : codeOf(fr(x[i] - min), scale, maxCode)));
  return { codes, scale, min };
}

/** The code q with (q - 0.5) s <= d < (q + 0.5) s, clamped to [0, maxCode]; exact in f32. */
function codeOf(d: number, scale: number, maxCode: number): number {
  let q = Math.min(maxCode, Math.max(0, Math.round(d / scale)));
  if (q < maxCode && d >= fr((q + 0.5) * scale)) q++;
  if (q > 0 && d < fr((q - 0.5) * scale)) q--;
  return q;
}

export function dequantize(code: number, scale: number, min: number): number {
  return fr(fr(code * scale) + min);
}

function packScaleMin(scale: number, min: number): number {
  return (floatToHalf(scale) | (floatToHalf(min) << 16)) >>> 0;
}

function setCode(words: Uint32Array, word: number, bit: number, code: number): void {
  words[word] = (words[word] | (code << bit)) >>> 0;
}

/** A key block: `tokens[j][c]` (G tokens x D channels, f16 values), quantized per channel. */
export function packKeyBlock(tokens: ArrayLike<number>[], k: KiviShape): Uint32Array {
  const { headDim: D, groupSize: G, keyBits: b } = k;
  const wordsPerChannel = (G * b) / 32;
  const words = new Uint32Array(keyBlockWords(k));
  for (let c = 0; c < D; c++) {
    const group = quantizeGroup(Array.from({ length: G }, (_, j) => tokens[j][c]), b);
    group.codes.forEach((code, j) => setCode(words, c * wordsPerChannel + Math.floor((j * b) / 32), (j * b) % 32, code));
    words[D * wordsPerChannel + c] = packScaleMin(group.scale, group.min);
  }
  return words;
}

/** A value block: `tokens[j][c]` (G tokens x D channels, f16 values), quantized per token in groups of G channels. */
export function packValueBlock(tokens: ArrayLike<number>[], k: KiviShape): Uint32Array {
  const { headDim: D, groupSize: G, valueBits: b } = k;
  const wordsPerToken = (D * b) / 32;
  const groupsPerToken = D / G;
  const words = new Uint32Array(valueBlockWords(k));
  for (let j = 0; j < G; j++) {
    for (let g = 0; g < groupsPerToken; g++) {
      const group = quantizeGroup(Array.from({ length: G }, (_, i) => tokens[j][g * G + i]), b);
      group.codes.forEach((code, i) => {
        const c = g * G + i;
        setCode(words, j * wordsPerToken + Math.floor((c * b) / 32), (c * b) % 32, code);
      });
      words[G * wordsPerToken + j * groupsPerToken + g] = packScaleMin(group.scale, group.min);
    }
  }
  return words;
}

/** Token j's D key values from a packed key block. */
export function unpackKeyToken(words: Uint32Array, j: number, k: KiviShape): Float32Array {
  const { headDim: D, groupSize: G, keyBits: b } = k;
  const wordsPerChannel = (G * b) / 32;
  const out = new Float32Array(D);
  for (let c = 0; c < D; c++) {
    const code = (words[c * wordsPerChannel + Math.floor((j * b) / 32)] >>> ((j * b) % 32)) & (2 ** b - 1);
    const sm = words[D * wordsPerChannel + c];
    out[c] = dequantize(code, halfToFloat(sm & 0xffff), halfToFloat(sm >>> 16));
  }
  return out;
}

/** Token j's D values from a packed value block. */
export function unpackValueToken(words: Uint32Array, j: number, k: KiviShape): Float32Array {
  const { headDim: D, groupSize: G, valueBits: b } = k;
  const wordsPerToken = (D * b) / 32;
  const out = new Float32Array(D);
  for (let c = 0; c < D; c++) {
    const code = (words[j * wordsPerToken + Math.floor((c * b) / 32)] >>> ((c * b) % 32)) & (2 ** b - 1);
    const sm = words[G * wordsPerToken + j * (D / G) + Math.floor(c / G)];
    out[c] = dequantize(code, halfToFloat(sm & 0xffff), halfToFloat(sm >>> 16));
  }
  return out;
}
