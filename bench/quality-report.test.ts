import { describe, expect, it } from 'vitest';
import { KIVI2 } from '../src/engine/kv/settings';
import type { QualityRow, TeacherForcedRow } from './quality-core';
import { qualityMarkdown, summarizeQuality } from './quality-report';

function row(config: string, context: number, dnll: number, top1: number, retrievalRatio: number): TeacherForcedRow {
  const figures = { positions: 64, dnll, top1Agreement: top1, accuracy: 0.5, fp16Accuracy: 0.5, accuracyRatio: 1, cases: 4 };
  return {
    kind: 'teacher-forced', config, settings: KIVI2, context, keptFraction: 0.25,
    text: figures,
    retrieval: { ...figures, accuracy: 0.9 * retrievalRatio, fp16Accuracy: 0.9, accuracyRatio: retrievalRatio },
  };
}

const ROWS: QualityRow[] = [
  row('kivi2', 1024, 0.5, 0.5, 0.5),
  row('kivi2', 2048, 0.015, 0.985, 1),
  row('kivi2-zigzag20', 2048, 0.04, 0.9, 0.96),
  row('kivi2-uniform20', 2048, 0.05, 0.9, 0.9),
  row('kivi2-pyramid20', 2048, 0.06, 0.9, 0.9),
  { kind: 'greedy', config: 'kivi2', settings: KIVI2, promptTokens: 1024, steps: 256, prompts: 4, agreement: 0.75, meanFirstDivergence: 100.5, minFirstDivergence: 12 },
  { kind: 'skipped', config: 'kivi2-g64-r32', context: null, task: 'all', reason: 'R must be a multiple of G' },
];

describe('summarizeQuality', () => {
  it('takes the issue figures from the rows at 2048 tokens and checks them against the targets', () => {
    const summary = summarizeQuality(ROWS);
    expect(summary).toMatchObject({
      context: 2048,
      dnll_kivi2: 0.015,
      top1_kivi2: 0.985,
      dnll_kivi2_zigzag20: 0.04,
      dnll_kivi2_uniform20: 0.05,
      dnll_kivi2_pyramid20: 0.06,
      retrieval_ratio_kivi2_zigzag20: 0.96,
    });
    expect(Object.values(summary.targets_met)).toEqual([true, true, true, true, true]);
  });

  it('reports missed targets, and null for figures never measured', () => {
    const missed = summarizeQuality([row('kivi2', 2048, 0.03, 0.97, 1), row('kivi2-zigzag20', 2048, 0.07, 0.9, 0.5), row('kivi2-uniform20', 2048, 0.06, 0.9, 1)]);
    expect(missed.targets_met).toEqual({ dnll_kivi2: false, top1_kivi2: false, dnll_kivi2_zigzag20: false, zigzag_ahead_of_uniform_and_pyramid: null, retrieval_ratio_kivi2_zigzag20: false });
    expect(missed.dnll_kivi2_pyramid20).toBeNull();
  });
});

describe('qualityMarkdown', () => {
  it('has a column group per context, a row per configuration, the greedy table and what was skipped', () => {
    const md = qualityMarkdown(ROWS);
    const lines = md.split('\n');
    expect(lines[0]).toBe('| cache | ΔNLL @1024 | top-1 @1024 | retrieval @1024 | kept @1024 | ΔNLL @2048 | top-1 @2048 | retrieval @2048 | kept @2048 |');
    expect(lines).toContain('| kivi2 | +0.5000 | 50.0 % | 45.0 % (0.500x) | 25.0 % | +0.0150 | 98.5 % | 90.0 % (1.000x) | 25.0 % |');
    expect(lines).toContain('| kivi2-zigzag20 | – | – | – | – | +0.0400 | 90.0 % | 86.4 % (0.960x) | 25.0 % |');
    expect(lines).toContain('| kivi2 | 75.0 % | 100.5 / 12 |');
    expect(lines).toContain('- kivi2-g64-r32: R must be a multiple of G');
  });
});
