import { describe, expect, it } from 'vitest';
import { buildDataset, evenStarts, greedyPrompts, qualityConfigs, retrievalCase, retrievalCases, textCases, type QualityDataset } from './quality-data';

// A fake tokenizer: one token per character (its code), so lengths are easy to reason about.
const encode = (text: string) => Array.from(text, (ch) => ch.charCodeAt(0));
const BOS = 1000;
const EOT = 1001;

describe('buildDataset', () => {
  const docs = [
    { source: 'kjv', text: 'In the beginning' },
    { source: 'chat', text: 'never used' },
    { source: 'webster', text: 'Abacus (noun).\nA frame.\n\nAb.\nx' },
    { source: 'fortune', text: 'a long quotation here\n%\nshort' },
    { source: 'repeat', text: 'never used either' },
  ];
  const data = buildDataset(docs, encode, { bos: BOS, eot: EOT }, 8);

  it('lays the text documents out as the training stream does and leaves chats and repeats out', () => {
    const expected = [BOS, ...encode('In the beginning'), EOT, BOS, ...encode(docs[2].text), EOT, BOS, ...encode(docs[3].text), EOT];
    expect(data.stream).toEqual(expected);
  });

  it('cuts passages of exactly the asked length from long enough entries and quotations only', () => {
    expect(data.passages).toEqual([encode('Abacus ('), encode('a long q')]);
    expect(data.filler).toEqual(encode('In the beginning'));
    expect(data.separator).toEqual([10, 10]);
  });
});

describe('evenStarts', () => {
  it('spreads windows from the first token to the last', () => {
    expect(evenStarts(100, 10, 4)).toEqual([0, 30, 60, 90]);
    expect(evenStarts(10, 10, 1)).toEqual([0]);
    expect(() => evenStarts(9, 10, 2)).toThrow(/does not fit/);
  });
});

const DATA: QualityDataset = {
  stream: Array.from({ length: 100 }, (_, i) => i),
  passages: [[501, 502, 503, 504], [601, 602, 603, 604], [701, 702, 703, 704]],
  filler: Array.from({ length: 50 }, (_, i) => 200 + i),
  separator: [9],
  bos: BOS,
};

describe('textCases', () => {
  it('scores the last tokens of each window', () => {
    const cases = textCases(DATA, 20, 5, 3);
    expect(cases.map((c) => c.tokens[0])).toEqual([0, 40, 80]);
    for (const c of cases) {
      expect(c.tokens).toHaveLength(20);
      expect(c.scoreFrom).toBe(15);
    }
  });
});

describe('retrievalCase', () => {
  it('repeats the passage at the end of a case of exactly the context and scores its second half', () => {
    const c = retrievalCase(BOS, [1, 2, 3, 4, 5], [9], [20, 21, 22, 23, 24, 25], 17);
    expect(c.tokens).toEqual([BOS, 1, 2, 3, 4, 5, 9, 20, 21, 22, 23, 9, 1, 2, 3, 4, 5]);
    expect(c.scoreFrom).toBe(15);
    expect(c.tokens.slice(c.scoreFrom)).toEqual([4, 5]);
  });

  it('refuses contexts the passage or the filler cannot fill', () => {
    expect(() => retrievalCase(BOS, [1, 2, 3], [9], [20], 8)).toThrow(/do not fit/);
    expect(() => retrievalCase(BOS, [1, 2], [9], [20], 10)).toThrow(/filler/);
  });

  it('builds cases from spread passages and filler offsets', () => {
    const cases = retrievalCases(DATA, 30, 3);
    expect(cases.map((c) => c.tokens[1])).toEqual([501, 601, 701]);
    // filler length 30 - 1 - 8 - 2 = 19, starts spread over the 50 filler tokens
    expect(cases.map((c) => c.tokens[6])).toEqual([200, 216, 231]);
    for (const c of cases) expect(c.tokens).toHaveLength(30);
  });
});

describe('greedyPrompts', () => {
  it('takes prompts between the text windows', () => {
    expect(greedyPrompts(DATA, 10, 2).map((p) => p[0])).toEqual([23, 68]);
  });
});

describe('qualityConfigs', () => {
  const configs = qualityConfigs(64);
  it('lists fp16 first, KIVI-4, KIVI-2, the G x R grid and every policy at every budget', () => {
    expect(configs.map((c) => c.name)).toEqual([
      'fp16', 'kivi4', 'kivi2',
      'kivi2-g32-r0', 'kivi2-g32-r32', 'kivi2-g64-r0', 'kivi2-g64-r32', 'kivi2-g64-r128', 'kivi2-g128-r0', 'kivi2-g128-r32', 'kivi2-g128-r128',
      'kivi2-uniform10', 'kivi2-uniform20', 'kivi2-uniform40', 'kivi2-pyramid10', 'kivi2-pyramid20', 'kivi2-pyramid40', 'kivi2-zigzag10', 'kivi2-zigzag20', 'kivi2-zigzag40',
    ]);
    expect(configs.find((c) => c.name === 'kivi2-zigzag20')?.settings).toMatchObject({ keyBits: 2, groupSize: 32, residualLength: 128, policy: 'zigzag', budgetFraction: 0.2 });
  });

  it('marks combinations the settings schema rejects, with its reason', () => {
    const invalid = configs.filter((c) => c.settings === null).map((c) => c.name);
    // R = 32 is no multiple of G = 64 or 128; G = 128 exceeds head_dim 64 for the value groups.
    expect(invalid).toEqual(['kivi2-g64-r32', 'kivi2-g128-r0', 'kivi2-g128-r32', 'kivi2-g128-r128']);
    expect(configs.find((c) => c.name === 'kivi2-g64-r32')?.invalid).toMatch(/multiple of the group size/);
    expect(configs.find((c) => c.name === 'kivi2-g128-r0')?.invalid).toMatch(/head dimension/);
  });
});
