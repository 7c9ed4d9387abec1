// Temperature + nucleus (top-p) sampling without sorting.
// p_i = exp((logit_i - max) / temperature) (unnormalised, so the top token has p = 1, Z = sum p).
// The nucleus is {i : p_i >= theta}, theta the largest value (found by BISECTION_STEPS halvings
// of [0, 1]) whose kept mass sum_{p_i >= theta} p_i still reaches topP * Z. The token is drawn by
// inverse CDF over the nucleus in index order with the uniform draw `u` from the CPU.
//   logits [VOCAB] f32
//   probs  [VOCAB] f32 scratch
//   token  [1] u32
//   params uniform: temperature > 0, topP in (0, 1], u in [0, 1)
// Grid: (1); one workgroup of 256. Each invocation owns a contiguous slice of the vocabulary for
// the final inverse-CDF walk, so the walk visits tokens in index order.
override VOCAB: u32;

const WG = 256u;
const BISECTION_STEPS = 32u;

struct Params { temperature: f32, topP: f32, u: f32, pad: f32 }

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read_write> probs: array<f32>;
@group(0) @binding(2) var<storage, read_write> token: array<u32>;
@group(0) @binding(3) var<uniform> params: Params;

var<workgroup> scratch: array<f32, WG>;

fn workgroupSum(v: f32, lid: u32) -> f32 {
  scratch[lid] = v;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (lid < stride) { scratch[lid] += scratch[lid + stride]; }
    workgroupBarrier();
  }
  let result = scratch[0];
  workgroupBarrier();
  return result;
}

fn workgroupMax(v: f32, lid: u32) -> f32 {
  scratch[lid] = v;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (lid < stride) { scratch[lid] = max(scratch[lid], scratch[lid + stride]); }
    workgroupBarrier();
  }
  let result = scratch[0];
  workgroupBarrier();
  return result;
}

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32) {
  let sliceLen = (VOCAB + WG - 1u) / WG;
  let sliceBegin = min(lid * sliceLen, VOCAB);
  let sliceEnd = min(sliceBegin + sliceLen, VOCAB);

  var localMax = -3.0e38;
  for (var i = sliceBegin; i < sliceEnd; i++) { localMax = max(localMax, logits[i]); }
  let maxLogit = workgroupMax(localMax, lid);

  var localSum = 0.0;
  for (var i = sliceBegin; i < sliceEnd; i++) {
    let p = exp((logits[i] - maxLogit) / params.temperature);
    probs[i] = p;
    localSum += p;
  }
  let total = workgroupSum(localSum, lid);
  let needed = params.topP * total;

  var lo = 0.0;
  var hi = 1.0;
  for (var iter = 0u; iter < BISECTION_STEPS; iter++) {
    let mid = 0.5 * (lo + hi);
    var kept = 0.0;
    for (var i = sliceBegin; i < sliceEnd; i++) { if (probs[i] >= mid) { kept += probs[i]; } }
    if (workgroupSum(kept, lid) >= needed) { lo = mid; } else { hi = mid; }
  }
  let theta = lo;

  var sliceMass = 0.0;
  for (var i = sliceBegin; i < sliceEnd; i++) { if (probs[i] >= theta) { sliceMass += probs[i]; } }
  scratch[lid] = sliceMass;
  // Invocation 0 walks every slice of probs next: workgroupBarrier orders only workgroup memory,
  // storageBarrier makes the other invocations' probs writes visible.
  storageBarrier();
  workgroupBarrier();
  if (lid != 0u) { return; }

  var nucleusMass = 0.0;
  for (var s = 0u; s < WG; s++) { nucleusMass += scratch[s]; }
  let goal = params.u * nucleusMass;
  // Walk slices, then tokens, in index order; the last nucleus token absorbs rounding.
  var before = 0.0;
  var chosen = 0xffffffffu;
  for (var s = 0u; s < WG && chosen == 0xffffffffu; s++) {
    if (before + scratch[s] > goal || s == WG - 1u) {
      let begin = min(s * sliceLen, VOCAB);
      let end = min(begin + sliceLen, VOCAB);
      var cumulative = before;
      for (var i = begin; i < end; i++) {
        if (probs[i] >= theta) {
          cumulative += probs[i];
          chosen = i;
          if (cumulative > goal) { break; }
        }
      }
      if (cumulative > goal) { break; }
    }
    before += scratch[s];
  }
  token[0] = chosen;
}
