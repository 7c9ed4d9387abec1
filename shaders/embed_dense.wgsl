// Embedding gather from an unquantized table (MLC q0f32 / q0f16).
//   tokens [T] u32
//   table  [vocab, HIDDEN]: f32 bit patterns, or f16 pairs packed in u32 (WEIGHT_F16, [vocab, HIDDEN/2])
//   hidden [T, HIDDEN] f32
// Grid: (ceil(HIDDEN / 64), T); one invocation per value.
override HIDDEN: u32;
override WEIGHT_F16: bool = false;

@group(0) @binding(0) var<storage, read> tokens: array<u32>;
@group(0) @binding(1) var<storage, read> table: array<u32>;
@group(0) @binding(2) var<storage, read_write> hidden: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  if (c >= HIDDEN) { return; }
  let t = gid.y;
  let i = tokens[t] * HIDDEN + c;
  var value: f32;
  if (WEIGHT_F16) { value = unpack2x16float(table[i >> 1u])[i & 1u]; } else { value = bitcast<f32>(table[i]); }
  hidden[t * HIDDEN + c] = value;
}
