// Embedding gather from a q4 group-quantized table (MLC q4f16_1 / q4f32_1 layout "NK").
//   tokens  [T] u32
//   qWeight [vocab, HIDDEN/8] u32: 8 4-bit codes per word, code j in bits 4j..4j+3
//   qScale  [vocab, HIDDEN/32]: f16 pairs packed in u32 (SCALE_F16) or f32 bit patterns
//   hidden  [T, HIDDEN] f32, value = (code - 7) * scale
// Grid: (ceil(HIDDEN/8 / 64), T); one invocation per weight word (8 values).
override HIDDEN: u32;
override SCALE_F16: bool = true;

@group(0) @binding(0) var<storage, read> tokens: array<u32>;
@group(0) @binding(1) var<storage, read> qWeight: array<u32>;
@group(0) @binding(2) var<storage, read> qScale: array<u32>;
@group(0) @binding(3) var<storage, read_write> hidden: array<f32>;

fn scaleAt(i: u32) -> f32 {
  if (SCALE_F16) { return unpack2x16float(qScale[i >> 1u])[i & 1u]; }
  return bitcast<f32>(qScale[i]);
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let wordsPerRow = HIDDEN / 8u;
  let w = gid.x;
  if (w >= wordsPerRow) { return; }
  let t = gid.y;
  let row = tokens[t];
  let word = qWeight[row * wordsPerRow + w];
  let scale = scaleAt(row * (HIDDEN / 32u) + w / 4u);
  for (var j = 0u; j < 8u; j++) {
    let code = f32((word >> (4u * j)) & 15u);
    hidden[t * HIDDEN + w * 8u + j] = (code - 7.0) * scale;
  }
}
