// The quality benchmark's rows turned into issue 7's summary and a markdown table for
// docs/BENCHMARKS.md. Pure, so unit tests pin which rows each figure comes from.
import type { GreedyRow, QualityRow, TeacherForcedRow } from './quality-core';

/** The context the summary's figures come from: the model's whole window, where most of the cache
 *  is compressed or evicted. */
export const SUMMARY_CONTEXT = 2048;

export interface QualitySummary {
  context: number;
  /** KIVI-2 (G32, R128): mean ΔNLL per token vs fp16 (nats) and top-1 agreement, on held-out text. */
  dnll_kivi2: number | null;
  top1_kivi2: number | null;
  /** KIVI-2 + each policy at a 20 % budget: mean ΔNLL per token vs fp16. */
  dnll_kivi2_zigzag20: number | null;
  dnll_kivi2_uniform20: number | null;
  dnll_kivi2_pyramid20: number | null;
  /** KIVI-2 + zigzag 20 %: retrieval accuracy over fp16's. */
  retrieval_ratio_kivi2_zigzag20: number | null;
  /** Each target of issue 7, or null where its figures were not measured. */
  targets_met: {
    dnll_kivi2: boolean | null;
    top1_kivi2: boolean | null;
    dnll_kivi2_zigzag20: boolean | null;
    zigzag_ahead_of_uniform_and_pyramid: boolean | null;
    retrieval_ratio_kivi2_zigzag20: boolean | null;
  };
}

function teacherForced(rows: QualityRow[], config: string, context: number): TeacherForcedRow | undefined {
  return rows.find((r): r is TeacherForcedRow => r.kind === 'teacher-forced' && r.config === config && r.context === context);
}

export function summarizeQuality(rows: QualityRow[]): QualitySummary {
  const at = (config: string) => teacherForced(rows, config, SUMMARY_CONTEXT);
  const dnll = (config: string) => at(config)?.text.dnll ?? null;
  const summary = {
    context: SUMMARY_CONTEXT,
    dnll_kivi2: dnll('kivi2'),
    top1_kivi2: at('kivi2')?.text.top1Agreement ?? null,
    dnll_kivi2_zigzag20: dnll('kivi2-zigzag20'),
    dnll_kivi2_uniform20: dnll('kivi2-uniform20'),
    dnll_kivi2_pyramid20: dnll('kivi2-pyramid20'),
    retrieval_ratio_kivi2_zigzag20: at('kivi2-zigzag20')?.retrieval.accuracyRatio ?? null,
  };
  const met = (x: number | null, ok: (x: number) => boolean) => (x === null ? null : ok(x));
  const { dnll_kivi2_zigzag20: zigzag, dnll_kivi2_uniform20: uniform, dnll_kivi2_pyramid20: pyramid } = summary;
  return {
    ...summary,
    targets_met: {
      dnll_kivi2: met(summary.dnll_kivi2, (x) => x <= 0.02),
      top1_kivi2: met(summary.top1_kivi2, (x) => x >= 0.98),
      dnll_kivi2_zigzag20: met(zigzag, (x) => x <= 0.05),
      zigzag_ahead_of_uniform_and_pyramid: zigzag === null || uniform === null || pyramid === null ? null : zigzag < uniform && zigzag < pyramid,
      retrieval_ratio_kivi2_zigzag20: met(summary.retrieval_ratio_kivi2_zigzag20, (x) => x >= 0.95),
    },
  };
}

const signed = (x: number) => `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(4)}`;
const percent = (x: number | null) => (x === null ? '–' : `${(x * 100).toFixed(1)} %`);

/** Markdown tables: teacher-forced figures per configuration (one column group per context) and greedy agreement. */
export function qualityMarkdown(rows: QualityRow[]): string {
  const measured = rows.filter((r): r is TeacherForcedRow => r.kind === 'teacher-forced');
  const contexts = [...new Set(measured.map((r) => r.context))].sort((a, b) => a - b);
  const configs = [...new Set(rows.filter((r) => r.kind !== 'skipped').map((r) => r.config))];
  const lines: string[] = [];
  lines.push(`| cache | ${contexts.map((c) => `ΔNLL @${c} | top-1 @${c} | retrieval @${c} | kept @${c}`).join(' | ')} |`);
  lines.push(`| --- | ${contexts.map(() => '---: | ---: | ---: | ---:').join(' | ')} |`);
  for (const config of configs) {
    const cells = contexts.map((context) => {
      const row = teacherForced(rows, config, context);
      if (!row) return '– | – | – | –';
      return `${signed(row.text.dnll)} | ${percent(row.text.top1Agreement)} | ${percent(row.retrieval.accuracy)} (${row.retrieval.accuracyRatio === null ? '–' : `${row.retrieval.accuracyRatio.toFixed(3)}x`}) | ${percent(row.keptFraction)}`;
    });
    lines.push(`| ${config} | ${cells.join(' | ')} |`);
  }
  const greedy = rows.filter((r): r is GreedyRow => r.kind === 'greedy');
  if (greedy.length > 0) {
    const { promptTokens, steps, prompts } = greedy[0];
    lines.push('', `Greedy generation, ${steps} tokens after ${prompts} held-out prompts of ${promptTokens} tokens, against fp16's:`, '');
    lines.push('| cache | tokens equal | first divergence (mean / min) |', '| --- | ---: | ---: |');
    for (const row of greedy) lines.push(`| ${row.config} | ${percent(row.agreement)} | ${row.meanFirstDivergence.toFixed(1)} / ${row.minFirstDivergence} |`);
  }
  const skipped = rows.filter((r) => r.kind === 'skipped');
  if (skipped.length > 0) {
    lines.push('', 'Not measured:', '');
    for (const row of skipped) lines.push(`- ${row.config}${row.context === null ? '' : ` @${row.context} (${row.task})`}: ${row.reason}`);
  }
  return `${lines.join('\n')}\n`;
}
