// Combines the per-split partial results of attention_f16.wgsl (and of any split attention kernel
// with the same partial layout) into the attention output.
//   partialAcc [T, NUM_HEADS, numSplits, HEAD_DIM] f32, partialMl [T, NUM_HEADS, numSplits, 2] f32
//   attnOut    [T, NUM_HEADS * HEAD_DIM] f32 = sum_s acc_s exp(m_s - M) / sum_s l_s exp(m_s - M), M = max_s m_s
// Grid: (NUM_HEADS, T); 256 invocations. Decode splits a head's keys 64-256 ways, so the splits are
// spread over the invocations rather than walked by each: (M, sum l) is combined over splits
// lid, lid + 256, .. and then across the workgroup; acc by LANES channel lanes x PARTS split parts,
// the parts summed through workgroup memory.
override HEAD_DIM: u32;
override NUM_HEADS: u32;

// Derived; callers never set them.
override LANES: u32 = min(HEAD_DIM, WORKGROUP);
override PARTS: u32 = WORKGROUP / LANES;

const WORKGROUP = 256u;
const NEG_BIG = -3.0e38;

struct Batch { numTokens: u32, startPos: u32, numSplits: u32, firstRow: u32 }

@group(0) @binding(0) var<storage, read> partialAcc: array<f32>;
@group(0) @binding(1) var<storage, read> partialMl: array<f32>;
@group(0) @binding(2) var<storage, read_write> attnOut: array<f32>;
@group(0) @binding(3) var<uniform> batch: Batch;

var<workgroup> scratchM: array<f32, WORKGROUP>;
var<workgroup> scratch: array<f32, WORKGROUP>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let head = wid.x;
  let t = wid.y;
  let numSplits = batch.numSplits;
  let first = (t * NUM_HEADS + head) * numSplits;

  // (m, l) of this invocation's splits, rescaled to their common max as they come.
  var m = NEG_BIG;
  var l = 0.0;
  for (var s = lid; s < numSplits; s += WORKGROUP) {
    let ms = partialMl[2u * (first + s)];
    let newM = max(m, ms);
    l = l * exp(m - newM) + partialMl[2u * (first + s) + 1u] * exp(ms - newM);
    m = newM;
  }
  scratchM[lid] = m;
  scratch[lid] = l;
  workgroupBarrier();
  for (var half = WORKGROUP / 2u; half > 0u; half /= 2u) {
    if (lid < half) {
      let m2 = scratchM[lid + half];
      let newM = max(m, m2);
      l = l * exp(m - newM) + scratch[lid + half] * exp(m2 - newM);
      m = newM;
      scratchM[lid] = m;
      scratch[lid] = l;
    }
    workgroupBarrier();
  }
  let maxM = scratchM[0];
  let total = scratch[0];
  workgroupBarrier();

  let lane = lid % LANES;
  let part = lid / LANES;
  let outBase = t * NUM_HEADS * HEAD_DIM + head * HEAD_DIM;
  for (var c0 = 0u; c0 < HEAD_DIM; c0 += LANES) {
    let c = c0 + lane;
    var o = 0.0;
    if (c < HEAD_DIM && part < PARTS) {
      for (var s = part; s < numSplits; s += PARTS) {
        o += partialAcc[(first + s) * HEAD_DIM + c] * exp(partialMl[2u * (first + s)] - maxM);
      }
    }
    scratch[lid] = o;
    workgroupBarrier();
    if (part == 0u && c < HEAD_DIM) {
      var sum = 0.0;
      for (var p = 0u; p < PARTS; p++) { sum += scratch[p * LANES + lane]; }
      attnOut[outBase + c] = sum / total;
    }
    workgroupBarrier();
  }
}
