import { describe, expect, it } from 'vitest';
import { DEFAULT_KV_SETTINGS, KIVI2, KV_PRESETS } from '../engine/kv/settings';
import { qualityConfigs } from '../../bench/quality-data';
import { presetQuality, qualityNote, type QualityResult } from './presetQuality';

const ZIGZAG20 = { ...KIVI2, policy: 'zigzag' as const, budgetFraction: 0.2 };

function teacherForced(settings: typeof KIVI2, context: number, dnll: number, keptFraction = 1) {
  return { kind: 'teacher-forced' as const, settings, context, text: { dnll, top1Agreement: 0.97 }, retrieval: { accuracyRatio: 0.9 }, keptFraction };
}

const RESULT: QualityResult = {
  model: 'kvchat-demo',
  gpu: 'test',
  rows: [
    teacherForced(DEFAULT_KV_SETTINGS, 2048, 0),
    teacherForced(ZIGZAG20, 1024, 0.5, 0.5),
    teacherForced(ZIGZAG20, 2048, 0.031, 0.25),
    teacherForced(KIVI2, 2048, 0.01),
    { kind: 'greedy', settings: ZIGZAG20, steps: 256, agreement: 0.6 },
    { kind: 'skipped' },
  ],
};

describe('presetQuality', () => {
  it('takes the row with the same settings at the longest context, and its greedy agreement', () => {
    expect(presetQuality(RESULT, ZIGZAG20)).toEqual({
      model: 'kvchat-demo', context: 2048, dnll: 0.031, top1Agreement: 0.97, retrievalRatio: 0.9, keptFraction: 0.25, greedy: { agreement: 0.6, steps: 256 },
    });
    expect(presetQuality(RESULT, KIVI2)?.dnll).toBe(0.01);
  });

  it('is null for settings never measured and without a result', () => {
    expect(presetQuality(RESULT, { ...KIVI2, keyBits: 4, valueBits: 4 })).toBeNull();
    expect(presetQuality(null, KIVI2)).toBeNull();
  });
});

describe('qualityNote', () => {
  it('states the figures for a compressed preset and calls fp16 the reference', () => {
    expect(qualityNote(RESULT, ZIGZAG20)?.text).toBe('ΔNLL +0.031 nats/token, same next token 97.0 %, retrieval 90.0 % of fp16, keeps 25.0 % of tokens (at 2,048 tokens)');
    expect(qualityNote(RESULT, DEFAULT_KV_SETTINGS)?.text).toBe('the reference the others are measured against');
    expect(qualityNote(RESULT, ZIGZAG20)?.title).toMatch(/kvchat-demo.*2,048-token cases/);
    expect(qualityNote(null, ZIGZAG20)).toBeNull();
  });

  it('matches every preset the panel offers to the configurations the benchmark runs', () => {
    const measured = qualityConfigs(64).flatMap((c) => (c.settings ? [c.settings] : []));
    const rows = measured.map((s) => teacherForced(s, 2048, 0.01));
    for (const preset of KV_PRESETS) expect(presetQuality({ ...RESULT, rows }, preset.settings), preset.name).not.toBeNull();
  });
});
