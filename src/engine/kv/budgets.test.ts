import { describe, expect, it } from 'vitest';
import { headLmba, POLICIES, roundToBlocks } from './budgets';

const input = { numLayers: 4, averageBudget: 100, lmba: [10, 30, 40, 20], beta: 0.2 };
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

describe('budget policies', () => {
  it('zigzag: B_l = B_min + (B_avg - B_min) L LMBA_l / sum LMBA, conserving L B_avg', () => {
    const budgets = POLICIES.zigzag.allocate(input);
    // B_min = 20; (100 - 20) * 4 = 320 shared as 10:30:40:20.
    expect(budgets).toEqual([20 + 32, 20 + 96, 20 + 128, 20 + 64]);
    expect(sum(budgets)).toBeCloseTo(400, 10);
  });

  it('pyramid: linear from 2 B_avg - B_min down to B_min, same total', () => {
    const budgets = POLICIES.pyramid.allocate(input);
    expect(budgets[0]).toBeCloseTo(180);
    expect(budgets[3]).toBeCloseTo(20);
    expect(sum(budgets)).toBeCloseTo(400, 10);
  });

  it('uniform gives every layer B_avg and none keeps everything', () => {
    expect(POLICIES.uniform.allocate(input)).toEqual([100, 100, 100, 100]);
    expect(POLICIES.none.allocate(input)).toEqual([Infinity, Infinity, Infinity, Infinity]);
    expect(POLICIES.none.evicts).toBe(false);
  });
});

describe('roundToBlocks', () => {
  it('rounds to whole blocks, keeps the total and gives spare blocks to the largest remainders', () => {
    expect(roundToBlocks([52, 116, 148, 84], 32, 32)).toEqual([64, 128, 160, 64]);
    expect(sum(roundToBlocks([52, 116, 148, 84], 32, 32))).toBe(Math.round(400 / 32) * 32);
    expect(sum(roundToBlocks([40, 40, 40], 32, 32))).toBe(128);
  });

  it('never goes below the floor', () => {
    expect(roundToBlocks([1, 1, 400], 32, 64)).toEqual([64, 64, 288]);
  });
});

describe('headLmba', () => {
  it('counts the fewest largest masses reaching tau of the total', () => {
    expect(headLmba([0.5, 0.1, 0.3, 0.1], 0.9)).toBe(3);
    expect(headLmba([0.25, 0.25, 0.25, 0.25], 0.9)).toBe(4);
    expect(headLmba([1, 0, 0], 0.9)).toBe(1);
  });
});
