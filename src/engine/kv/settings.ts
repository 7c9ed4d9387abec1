// The one schema of the KV cache settings: defaults, allowed values and help text, shared by the
// engine (validation before any GPU work), the UI (controls are generated from it) and the tests.
import { KvSettingsError } from '../errors';
import type { PolicyName } from './budgets';

export { KvSettingsError };
export type { PolicyName };

export interface KvSettings {
  /** Bits per key code: 2, 4 or 8 (KIVI), or 16 for the fp16 cache. */
  keyBits: 2 | 4 | 8 | 16;
  /** Bits per value code: 2, 4 or 8 (KIVI), or 16 for the fp16 cache. */
  valueBits: 2 | 4 | 8 | 16;
  /** Tokens per quantization block (keys: one group per channel over G tokens; values: G channels of a token). */
  groupSize: 32 | 64 | 128;
  /** Newest tokens kept in fp16 (a multiple of groupSize, or 0). */
  residualLength: 0 | 32 | 64 | 128 | 256;
  /** How per-layer token budgets are set; 'none' keeps every token. */
  policy: PolicyName;
  /** Average tokens kept per layer, as a fraction of the tokens seen. */
  budgetFraction: number;
  /** Average tokens kept per layer as a count; 0 means use budgetFraction. */
  budgetTokens: number;
  /** First tokens of the conversation always kept (attention sinks). */
  sinks: number;
  /** Newest queries whose attention decides which tokens matter. */
  window: number;
}

interface SpecBase<K extends keyof KvSettings> {
  key: K;
  label: string;
  help: string;
  default: KvSettings[K];
}

/** A setting with a fixed list of values, or a number in a range. */
export type KvSettingSpec<K extends keyof KvSettings = keyof KvSettings> =
  | (SpecBase<K> & { kind: 'choice'; choices: readonly KvSettings[K][] })
  | (SpecBase<K> & { kind: 'range'; min: number; max: number; step: number });

export const KV_SETTINGS_SCHEMA = {
  keyBits: {
    key: 'keyBits', kind: 'choice', label: 'Key bits', default: 16, choices: [2, 4, 8, 16],
    help: 'Bits per cached key value. 16 keeps the full-precision cache; 2 stores keys per channel in 2-bit codes (KIVI).',
  },
  valueBits: {
    key: 'valueBits', kind: 'choice', label: 'Value bits', default: 16, choices: [2, 4, 8, 16],
    help: 'Bits per cached value. 16 keeps the full-precision cache; 2 stores values per token in 2-bit codes (KIVI).',
  },
  groupSize: {
    key: 'groupSize', kind: 'choice', label: 'Group size', default: 32, choices: [32, 64, 128],
    help: 'Values that share one scale and minimum. Smaller groups are more accurate and cost more bytes per value.',
  },
  residualLength: {
    key: 'residualLength', kind: 'choice', label: 'Full-precision window', default: 128, choices: [0, 32, 64, 128, 256],
    help: 'The newest tokens, kept in fp16 until a whole group of older tokens can be quantized.',
  },
  policy: {
    key: 'policy', kind: 'choice', label: 'Eviction policy', default: 'none', choices: ['none', 'uniform', 'pyramid', 'zigzag'],
    help: 'none keeps every token; uniform gives every layer the same budget; pyramid gives early layers more; zigzag gives each layer what its attention needs (ZigZagKV).',
  },
  budgetFraction: {
    key: 'budgetFraction', kind: 'range', label: 'Token budget', default: 0.2, min: 0.05, max: 1, step: 0.05,
    help: 'Tokens each layer keeps on average, as a share of the conversation so far.',
  },
  budgetTokens: {
    key: 'budgetTokens', kind: 'range', label: 'Token budget (tokens)', default: 0, min: 0, max: 1 << 20, step: 32,
    help: 'Tokens each layer keeps on average, as a fixed count; 0 uses the share above.',
  },
  sinks: {
    key: 'sinks', kind: 'range', label: 'Attention sinks', default: 4, min: 0, max: 64, step: 1,
    help: 'The first tokens of the conversation, which attention leans on, are never evicted.',
  },
  window: {
    key: 'window', kind: 'choice', label: 'Observation window', default: 32, choices: [8, 16, 32, 64],
    help: 'How many of the newest tokens score which older tokens matter.',
  },
} as const satisfies { [K in keyof KvSettings]: KvSettingSpec<K> };

export const DEFAULT_KV_SETTINGS: KvSettings = Object.fromEntries(
  Object.values(KV_SETTINGS_SCHEMA).map((spec) => [spec.key, spec.default]),
) as unknown as KvSettings;

/** KIVI-2 with the paper's defaults (G = 32, R = 128). */
export const KIVI2: KvSettings = { ...DEFAULT_KV_SETTINGS, keyBits: 2, valueBits: 2, groupSize: 32, residualLength: 128 };

/** The presets the UI offers. */
export const KV_PRESETS: { name: string; settings: KvSettings }[] = [
  { name: 'Full precision', settings: DEFAULT_KV_SETTINGS },
  { name: 'Balanced (KIVI-4)', settings: { ...KIVI2, keyBits: 4, valueBits: 4 } },
  { name: 'Max context (KIVI-2 + ZigZag 20%)', settings: { ...KIVI2, policy: 'zigzag', budgetFraction: 0.2 } },
];

export function isQuantized(s: KvSettings): boolean {
  return s.keyBits !== 16;
}

/** Merges `partial` into `base` and checks the result for a model of head dimension `headDim`. */
export function resolveKvSettings(partial: Partial<KvSettings>, headDim: number, base: KvSettings = DEFAULT_KV_SETTINGS): KvSettings {
  const s = { ...base, ...partial };
  for (const spec of Object.values(KV_SETTINGS_SCHEMA) as KvSettingSpec[]) {
    const value = s[spec.key];
    if (spec.kind === 'choice') {
      if (!(spec.choices as readonly unknown[]).includes(value)) {
        throw new KvSettingsError(`${spec.label} must be one of ${spec.choices.join(', ')}; got ${String(value)}.`);
      }
    } else if (typeof value !== 'number' || !(value >= spec.min && value <= spec.max)) {
      throw new KvSettingsError(`${spec.label} must be a number from ${spec.min} to ${spec.max}; got ${String(value)}.`);
    }
  }
  if ((s.keyBits === 16) !== (s.valueBits === 16)) {
    throw new KvSettingsError('Keys and values are either both quantized (2, 4 or 8 bits) or both kept at 16 bits.');
  }
  if (isQuantized(s)) {
    if (s.residualLength % s.groupSize !== 0) {
      throw new KvSettingsError(`The full-precision window (${s.residualLength}) must be a multiple of the group size (${s.groupSize}).`);
    }
    if (s.groupSize > headDim) {
      throw new KvSettingsError(`Values are quantized in groups of channels, so the group size (${s.groupSize}) cannot exceed the model's head dimension (${headDim}).`);
    }
    if ((headDim * s.valueBits) % 32 !== 0) {
      throw new KvSettingsError(`A token's ${headDim} value channels at ${s.valueBits} bits do not fill whole 32-bit words.`);
    }
  }
  return s;
}
