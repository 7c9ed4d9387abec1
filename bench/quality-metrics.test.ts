import { describe, expect, it } from 'vitest';
import { addComparison, argmax, EMPTY_COMPARISON, figures, greedyAgreement, tokenNll } from './quality-metrics';

describe('tokenNll', () => {
  it('is -log softmax of the target, in nats', () => {
    // softmax([0, ln 3]) = [1/4, 3/4]
    expect(tokenNll([0, Math.log(3)], 0)).toBeCloseTo(Math.log(4), 12);
    expect(tokenNll([0, Math.log(3)], 1)).toBeCloseTo(Math.log(4 / 3), 12);
    expect(tokenNll([0, 0, 0, 0], 2)).toBeCloseTo(Math.log(4), 12);
  });

  it('stays finite for logits that would overflow exp', () => {
    expect(tokenNll([1000, 1000], 1)).toBeCloseTo(Math.log(2), 12);
    expect(tokenNll(Float32Array.of(-1e4, 900, 900 + Math.log(3)), 1)).toBeCloseTo(Math.log(4), 4);
  });
});

describe('argmax', () => {
  it('takes the largest logit and the lowest index on a tie', () => {
    expect(argmax([0.1, 3, -2, 3])).toBe(1);
    expect(argmax(Float32Array.of(-5, -4, -6))).toBe(1);
  });
});

describe('addComparison and figures', () => {
  it('averages ΔNLL per scored token over cases and counts agreement with fp16 and with the truth', () => {
    const targets1 = [7, 8];
    let sum = addComparison(EMPTY_COMPARISON, { nll: [1.5, 2], top1: [7, 9] }, { nll: [1, 2], top1: [7, 8] }, targets1);
    sum = addComparison(sum, { nll: [0.75], top1: [3] }, { nll: [1], top1: [4] }, [4]);
    const f = figures(sum);
    expect(f.positions).toBe(3);
    expect(f.dnll).toBeCloseTo((0.5 + 0 - 0.25) / 3, 12);
    expect(f.top1Agreement).toBeCloseTo(1 / 3, 12);
    expect(f.accuracy).toBeCloseTo(1 / 3, 12);
    expect(f.fp16Accuracy).toBe(1);
    expect(f.accuracyRatio).toBeCloseTo(1 / 3, 12);
  });

  it('gives no ratio when fp16 predicted nothing right, and rejects misaligned predictions', () => {
    const sum = addComparison(EMPTY_COMPARISON, { nll: [1], top1: [2] }, { nll: [1], top1: [3] }, [2]);
    expect(figures(sum).accuracyRatio).toBeNull();
    expect(() => addComparison(EMPTY_COMPARISON, { nll: [1], top1: [2] }, { nll: [1, 2], top1: [3, 3] }, [2])).toThrow(/do not match/);
    expect(() => figures(EMPTY_COMPARISON)).toThrow(/no scored positions/);
  });
});

describe('greedyAgreement', () => {
  it('counts equal positions and finds the first divergence', () => {
    expect(greedyAgreement([1, 2, 3, 4], [1, 2, 9, 4])).toEqual({ agreement: 0.75, firstDivergence: 2 });
    expect(greedyAgreement([1, 2], [1, 2])).toEqual({ agreement: 1, firstDivergence: 2 });
    expect(() => greedyAgreement([1], [1, 2])).toThrow();
  });
});
