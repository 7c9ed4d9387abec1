import { describe, expect, it } from 'vitest';
import { DEFAULT_KV_SETTINGS, KIVI2, KvSettingsError, resolveKvSettings } from './settings';

describe('resolveKvSettings', () => {
  it('defaults to the fp16 cache and accepts KIVI-2 for a 64-dim head', () => {
    expect(resolveKvSettings({}, 64)).toEqual(DEFAULT_KV_SETTINGS);
    expect(resolveKvSettings(KIVI2, 64)).toEqual(KIVI2);
  });

  it('rejects invalid combinations before any GPU work, saying why', () => {
    const bad: [Parameters<typeof resolveKvSettings>[0], RegExp][] = [
      [{ ...KIVI2, residualLength: 32, groupSize: 64 }, /multiple of the group size/],
      [{ ...KIVI2, groupSize: 128 }, /cannot exceed the model's head dimension \(64\)/],
      [{ keyBits: 3 as 2 }, /Key bits must be one of 2, 4, 8, 16/],
      [{ keyBits: 2, valueBits: 16 }, /both quantized/],
    ];
    for (const [partial, message] of bad) {
      expect(() => resolveKvSettings(partial, 64)).toThrow(KvSettingsError);
      expect(() => resolveKvSettings(partial, 64)).toThrow(message);
    }
  });
});
