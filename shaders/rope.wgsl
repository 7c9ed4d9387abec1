// Rotary position embedding, HF "rotate half" convention, applied in place to the query and key
// heads of the fused qkv activations (values are left alone).
//   qkv     [T, (NUM_HEADS + 2 * NUM_KV_HEADS) * HEAD_DIM] f32: q heads, then k heads, then v heads
//   invFreq [HEAD_DIM / 2] f32: per-pair inverse frequency, Llama-3 scaling already applied on the CPU
//   batch   uniform: token t sits at position startPos + t
// For pair i < HEAD_DIM/2 of a head: (x_i, x_{i+D/2}) -> (x_i cos a - x_{i+D/2} sin a, x_{i+D/2} cos a + x_i sin a),
// a = pos * invFreq[i] rounded to f32; cos a and sin a from sinCos (rope_sincos.wgsl, prepended).
// Grid: (ceil((NUM_HEADS + NUM_KV_HEADS) * HEAD_DIM / 2 / 64), T); one invocation per pair.
override HEAD_DIM: u32;
override NUM_HEADS: u32;
override NUM_KV_HEADS: u32;

struct Batch { numTokens: u32, startPos: u32, numSplits: u32, firstRow: u32 }

@group(0) @binding(0) var<storage, read_write> qkv: array<f32>;
@group(0) @binding(1) var<storage, read> invFreq: array<f32>;
@group(0) @binding(2) var<uniform> batch: Batch;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let half = HEAD_DIM / 2u;
  let pair = gid.x;
  if (pair >= (NUM_HEADS + NUM_KV_HEADS) * half) { return; }
  let t = gid.y;
  let head = pair / half;
  let i = pair % half;
  let angle = f32(batch.startPos + t) * invFreq[i];
  let sc = sinCos(angle);
  let s = sc.x;
  let c = sc.y;
  let base = t * (NUM_HEADS + 2u * NUM_KV_HEADS) * HEAD_DIM + head * HEAD_DIM;
  let x0 = qkv[base + i];
  let x1 = qkv[base + i + half];
  qkv[base + i] = x0 * c - x1 * s;
  qkv[base + i + half] = x1 * c + x0 * s;
}
