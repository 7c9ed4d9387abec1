import { describe, expect, it } from 'vitest';
import { kiviShape } from '../kv/layout';
import { KIVI2 } from '../kv/settings';
import { roundToHalf } from './f16';
import { packKeyBlock, packValueBlock, quantizeGroup, unpackKeyToken, unpackValueToken } from './kivi';

describe('quantizeGroup', () => {
  it('maps an evenly spaced group onto the codes exactly', () => {
    expect(quantizeGroup([0, 1, 2, 3], 2)).toEqual({ codes: [0, 1, 2, 3], scale: 1, min: 0 });
    expect(quantizeGroup([-2, 6, 2, -2], 4)).toEqual({ codes: [0, 15, 8, 0], scale: roundToHalf(8 / 15), min: -2 });
  });

  it('rounds a value halfway between two codes upward', () => {
    expect(quantizeGroup([0, 0.5, 2.5, 3], 2).codes).toEqual([0, 1, 3, 3]);
  });

  it('gives a constant group scale 0 and all codes 0, dequantizing to the constant', () => {
    expect(quantizeGroup([1.5, 1.5, 1.5], 2)).toEqual({ codes: [0, 0, 0], scale: 0, min: 1.5 });
  });

  it('keeps every value within half a step (plus f16 scale rounding) of its dequantized code', () => {
    const x = Array.from({ length: 32 }, (_, i) => roundToHalf(Math.sin(i * 1.7) * 4));
    for (const bits of [2, 4, 8]) {
      const { codes, scale, min } = quantizeGroup(x, bits);
      codes.forEach((q, i) => expect(Math.abs(q * scale + min - x[i])).toBeLessThanOrEqual(scale / 2 + 1e-6 * (2 ** bits) * scale));
    }
  });
});

describe('packed blocks', () => {
  const shape = kiviShape(KIVI2, 1, 64, 256, 32);
  const tokens = Array.from({ length: 32 }, (_, j) => Array.from({ length: 64 }, (_, c) => roundToHalf(Math.cos(j * 0.3 + c * 1.1) * (c === 5 ? 40 : 1))));

  it('round-trips keys per channel: the outlier channel does not widen the others', () => {
    const block = packKeyBlock(tokens, shape);
    expect(block.length).toBe(64 * 2 + 64);
    for (let j = 0; j < 32; j++) {
      const back = unpackKeyToken(block, j, shape);
      for (let c = 0; c < 64; c++) expect(Math.abs(back[c] - tokens[j][c])).toBeLessThanOrEqual(c === 5 ? 40 / 3 : 1 / 3 + 1e-3);
    }
  });

  it('round-trips values per token within half a step of their group', () => {
    const block = packValueBlock(tokens, shape);
    expect(block.length).toBe(32 * 4 + 32 * 2);
    for (let j = 0; j < 32; j++) {
      const back = unpackValueToken(block, j, shape);
      for (let c = 0; c < 64; c++) {
        const group = tokens[j].slice(Math.floor(c / 32) * 32, Math.floor(c / 32) * 32 + 32);
        const step = (Math.max(...group) - Math.min(...group)) / 3;
        expect(Math.abs(back[c] - tokens[j][c])).toBeLessThanOrEqual(step / 2 + 1e-3);
      }
    }
  });
});
