// The one schema of the KV cache settings: defaults, allowed values and help text, shared by the
// engine (validation before any GPU work), the UI (controls are generated from it) and the tests.
import { KvSettingsError } from '../errors';

export { KvSettingsError };

export interface KvSettings {
  /** Bits per key code: 2, 4 or 8 (KIVI), or 16 for the fp16 cache. */
  keyBits: 2 | 4 | 8 | 16;
  /** Bits per value code: 2, 4 or 8 (KIVI), or 16 for the fp16 cache. */
  valueBits: 2 | 4 | 8 | 16;
  /** Tokens per quantization block (keys: one group per channel over G tokens; values: G channels of a token). */
  groupSize: 32 | 64 | 128;
  /** Newest tokens kept in fp16 (a multiple of groupSize, or 0). */
  residualLength: 0 | 32 | 64 | 128 | 256;
}

export interface KvSettingSpec<K extends keyof KvSettings> {
  key: K;
  label: string;
  help: string;
  choices: readonly KvSettings[K][];
  default: KvSettings[K];
}

export const KV_SETTINGS_SCHEMA = {
  keyBits: {
    key: 'keyBits', label: 'Key bits', default: 16, choices: [2, 4, 8, 16],
    help: 'Bits per cached key value. 16 keeps the full-precision cache; 2 stores keys per channel in 2-bit codes (KIVI).',
  },
  valueBits: {
    key: 'valueBits', label: 'Value bits', default: 16, choices: [2, 4, 8, 16],
    help: 'Bits per cached value. 16 keeps the full-precision cache; 2 stores values per token in 2-bit codes (KIVI).',
  },
  groupSize: {
    key: 'groupSize', label: 'Group size', default: 32, choices: [32, 64, 128],
    help: 'Values that share one scale and minimum. Smaller groups are more accurate and cost more bytes per value.',
  },
  residualLength: {
    key: 'residualLength', label: 'Full-precision window', default: 128, choices: [0, 32, 64, 128, 256],
    help: 'The newest tokens, kept in fp16 until a whole group of older tokens can be quantized.',
  },
} as const satisfies { [K in keyof KvSettings]: KvSettingSpec<K> };

export const DEFAULT_KV_SETTINGS: KvSettings = {
  keyBits: KV_SETTINGS_SCHEMA.keyBits.default,
  valueBits: KV_SETTINGS_SCHEMA.valueBits.default,
  groupSize: KV_SETTINGS_SCHEMA.groupSize.default,
  residualLength: KV_SETTINGS_SCHEMA.residualLength.default,
};

/** KIVI-2 with the paper's defaults (G = 32, R = 128). */
export const KIVI2: KvSettings = { keyBits: 2, valueBits: 2, groupSize: 32, residualLength: 128 };

export function isQuantized(s: KvSettings): boolean {
  return s.keyBits !== 16;
}

/** Merges `partial` into `base` and checks the result for a model of head dimension `headDim`. */
export function resolveKvSettings(partial: Partial<KvSettings>, headDim: number, base: KvSettings = DEFAULT_KV_SETTINGS): KvSettings {
  const s = { ...base, ...partial };
  for (const spec of Object.values(KV_SETTINGS_SCHEMA)) {
    const value = s[spec.key];
    if (!(spec.choices as readonly number[]).includes(value)) {
      throw new KvSettingsError(`${spec.label} must be one of ${spec.choices.join(', ')}; got ${String(value)}.`);
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
