// The KIVI benchmark's summary: the four figures from the Llama rows, null where a row is
// missing, and each compared with its target.
import { describe, expect, it } from 'vitest';
import { KV_VARIANTS, summarize, SUMMARY_MODEL, type KvVariant, type MeasuredRow, type Row } from './kv-sweep';

function row(kv: KvVariant, context: number, tokensPerSecond: number, copyFraction: number, quantizedRatio: number | null, model = SUMMARY_MODEL): MeasuredRow {
  return {
    model, kv, settings: KV_VARIANTS[kv], context, status: 'measured',
    prefill: { fromTokens: 0, toTokens: context - 40, ms: 1, tokensPerSecond: 1 },
    decode: { steps: 32, warmup: 8, medianMs: 1000 / tokensPerSecond, meanMs: 1, p90Ms: 1, tokensPerSecond },
    kvBytes: { tokens: context, used: 1, allocated: 1, fp16Equivalent: 1, bytesPerToken: 1, fp16BytesPerToken: 1, fullPrecisionTokens: 128, quantizedBytesPerToken: 1, quantizedRatio },
    attention: { passesPerSubmit: 4, msPerPass: 1, bytesPerPass: 1, gbPerSecond: 1, copyFraction },
  };
}

describe('summarize', () => {
  it('divides KIVI-2 by fp16 at 32K and 1K and checks each target', () => {
    const rows: Row[] = [
      row('fp16', 1024, 200, 0.3, null),
      row('kivi-2', 1024, 170, 0.2, 0.1875),
      row('fp16', 32768, 100, 0.6, null),
      row('kivi-2', 32768, 160, 0.45, 0.1875),
      // Other models and variants do not enter the summary.
      row('kivi-2', 32768, 999, 0.99, 0.5, 'qwen2.5-0.5b'),
      row('kivi-4', 32768, 999, 0.99, 0.3125),
    ];
    const s = summarize(rows);
    expect(s.kv_bytes_ratio_2bit).toBe(0.1875);
    expect(s.decode_speedup_32k).toBeCloseTo(1.6, 12);
    expect(s.decode_ratio_1k).toBeCloseTo(0.85, 12);
    expect(s.attn_bw_fraction_32k).toBe(0.45);
    expect(s.targets_met).toEqual({ kv_bytes_ratio_2bit: true, decode_speedup_32k: true, decode_ratio_1k: false, attn_bw_fraction_32k: false });
  });

  it('leaves a figure null when a row it needs was skipped', () => {
    const skipped: Row = { model: SUMMARY_MODEL, kv: 'fp16', settings: KV_VARIANTS.fp16, context: 32768, status: 'skipped', reason: 'time limit' };
    const s = summarize([row('fp16', 1024, 200, 0.3, null), row('kivi-2', 1024, 190, 0.2, 0.1875), skipped, row('kivi-2', 32768, 160, 0.45, 0.1875)]);
    expect(s.decode_ratio_1k).toBeCloseTo(0.95, 12);
    expect(s.decode_speedup_32k).toBeNull();
    expect(s.targets_met.decode_speedup_32k).toBeNull();
    expect(s.attn_bw_fraction_32k).toBe(0.45);
  });
});
