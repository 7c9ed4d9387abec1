// Shared by the kernels that quantize KIVI groups (kivi_quant_keys, kivi_quant_values,
// kivi_compact_keys, kivi_compact_values): src/engine/gpu/shaders.ts prepends this file to each,
// so the exact quantization rule of src/engine/kv/layout.ts is written once. No entry point.

// f16 bits -> an integer with the order of the values (-0 before +0, like Math.min/max in the
// reference), so the group's min and max come out as exact f16 bit patterns.
fn orderKey(bits: u32) -> u32 { return select(bits | 0x8000u, bits ^ 0xffffu, (bits & 0x8000u) != 0u); }
fn fromOrderKey(key: u32) -> u32 { return select(key ^ 0xffffu, key & 0x7fffu, (key & 0x8000u) != 0u); }
fn halfValue(bits: u32) -> f32 { return unpack2x16float(bits).x; }

// f32(1 / (2^bits - 1)) as exact bit patterns: a division on the GPU may be off by an ulp.
fn inverseMaxCode(bits: u32) -> f32 {
  return select(select(bitcast<f32>(0x3b808081u), bitcast<f32>(0x3d888889u), bits == 4u), bitcast<f32>(0x3eaaaaabu), bits == 2u);
}

// The code q with (q - 0.5) s <= d < (q + 0.5) s (ties upward), clamped to [0, maxCode]: the
// division only guesses, the two comparisons make it exact.
fn quantize(d: f32, s: f32, maxCode: u32) -> u32 {
  if (s == 0.0) { return 0u; }
  var q = u32(clamp(round(d / s), 0.0, f32(maxCode)));
  if (q < maxCode && d >= (f32(q) + 0.5) * s) { q++; }
  if (q > 0u && d < (f32(q) - 0.5) * s) { q--; }
  return q;
}
