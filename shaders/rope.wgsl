// Rotary position embedding, HF "rotate half" convention, applied in place to the query and key
// heads of the fused qkv activations (values are left alone).
//   qkv     [T, (NUM_HEADS + 2 * NUM_KV_HEADS) * HEAD_DIM] f32: q heads, then k heads, then v heads
//   invFreq [HEAD_DIM / 2] f32: per-pair inverse frequency, Llama-3 scaling already applied on the CPU
//   batch   uniform: token t sits at position startPos + t
// For pair i < HEAD_DIM/2 of a head: (x_i, x_{i+D/2}) -> (x_i cos a - x_{i+D/2} sin a, x_{i+D/2} cos a + x_i sin a),
// a = pos * invFreq[i] rounded to f32. cos a and sin a come from sinCos below, not from WGSL's
// builtins: those promise only 2^-11 absolute error, and only on [-pi, pi] (SwiftShader's are off by
// ~2e-4), while a reaches tens of thousands of radians in long contexts.
// Grid: (ceil((NUM_HEADS + NUM_KV_HEADS) * HEAD_DIM / 2 / 64), T); one invocation per pair.
override HEAD_DIM: u32;
override NUM_HEADS: u32;
override NUM_KV_HEADS: u32;

struct Batch { numTokens: u32, startPos: u32, numSplits: u32, firstRow: u32 }

@group(0) @binding(0) var<storage, read_write> qkv: array<f32>;
@group(0) @binding(1) var<storage, read> invFreq: array<f32>;
@group(0) @binding(2) var<uniform> batch: Batch;

// pi/2 in parts of <= 7 significant bits (so k * part is exact for |k| < 2^17) and an f32 rest.
const PIO2_1 = 1.5625;
const PIO2_2 = 0.0081787109375;
const PIO2_3 = 0.00011730194091796875;
const PIO2_4 = 3.129243850708008e-7;
const PIO2_5 = 9.89530235528946e-10;
const PIO2_6 = 2.2737367544323206e-12;
const PIO2_7 = 2.896073951e-13;

// (sin a, cos a) to about one f32 ulp for |a| < 2e5: Cody-Waite reduction a = k pi/2 + r, |r| <= pi/4
// (each step exact, see PIO2_*), then the Cephes sinf/cosf minimax polynomials on r.
fn sinCos(a: f32) -> vec2<f32> {
  let k = round(a * 0.636619772);
  var r = a - k * PIO2_1;
  r -= k * PIO2_2;
  r -= k * PIO2_3;
  r -= k * PIO2_4;
  r -= k * PIO2_5;
  r -= k * PIO2_6;
  r -= k * PIO2_7;
  let z = r * r;
  let s = r + r * z * (-1.6666654611e-1 + z * (8.3321608736e-3 + z * -1.9515295891e-4));
  let c = 1.0 - 0.5 * z + z * z * (4.166664568298827e-2 + z * (-1.388731625493765e-3 + z * 2.443315711809948e-5));
  switch (i32(k) & 3) {
    case 0: { return vec2<f32>(s, c); }
    case 1: { return vec2<f32>(c, -s); }
    case 2: { return vec2<f32>(-s, -c); }
    default: { return vec2<f32>(-c, s); }
  }
}

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
