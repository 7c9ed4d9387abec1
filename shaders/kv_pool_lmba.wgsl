// Eviction step 2 (src/engine/kv/evictionLayout.ts): per KV head, the scores max-pooled over kept
// neighbours (kernel 7) and the head's LMBA.
//   scores  [NUM_KV_HEADS, CAPACITY] f32, non-negative and finite (kv_score_*'s output), j < kept
//   pooled  [NUM_KV_HEADS, CAPACITY] f32: pooled[h * CAPACITY + j] = max of scores j-3 .. j+3 clipped to 0 .. kept-1
//   lmba    [NUM_KV_HEADS] u32: with mass(theta) = sum of the head's scores >= theta, theta* = the largest
//           score value with mass(theta*) >= tau * mass(0), lmba = how many scores are >= theta*. For
//           distinct scores this is the fewest tokens whose largest scores add up to tau of the total
//           (budgets.ts headLmba); tied scores at theta* all count. All-zero scores give kept; kept = 0 gives 0.
//   params  uniform EvictParams { kept, select, sinks, recent, window, windowEnd, tau: f32, pad }: kept, tau
// theta* is found by bisection on the f32 bit patterns (their order is the value order for non-negative
// floats), 32 steps at most, each a workgroup sum of mass(theta) in f32.
// WITH_LMBA = false pools only (lmba is left as it was): decode's eviction events reuse the budgets'
// last LMBA, so they skip the bisection.
// Grid: (NUM_KV_HEADS); 256 invocations per head.
override CAPACITY: u32;
override WITH_LMBA: bool = true;

const WG = 256u;

struct EvictParams { kept: u32, select: u32, sinks: u32, recent: u32, window: u32, windowEnd: u32, tau: f32, pad: u32 }

@group(0) @binding(0) var<storage, read> scores: array<f32>;
@group(0) @binding(1) var<storage, read_write> pooled: array<f32>;
@group(0) @binding(2) var<storage, read_write> lmba: array<u32>;
@group(0) @binding(3) var<uniform> params: EvictParams;

var<workgroup> partialSums: array<f32, WG>;
var<workgroup> partialWords: array<u32, WG>;

fn workgroupSum(v: f32, lid: u32) -> f32 {
  partialSums[lid] = v;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (lid < stride) { partialSums[lid] += partialSums[lid + stride]; }
    workgroupBarrier();
  }
  let result = workgroupUniformLoad(&partialSums[0]);
  workgroupBarrier();
  return result;
}

/** Sum (op 0) or max (op 1) of a u32 over the workgroup. */
fn workgroupReduceU32(v: u32, lid: u32, op: u32) -> u32 {
  partialWords[lid] = v;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (lid < stride) {
      let other = partialWords[lid + stride];
      partialWords[lid] = select(max(partialWords[lid], other), partialWords[lid] + other, op == 0u);
    }
    workgroupBarrier();
  }
  let result = workgroupUniformLoad(&partialWords[0]);
  workgroupBarrier();
  return result;
}

/** mass(theta): the sum of the head's scores whose bit pattern is >= thetaBits. */
fn massAtLeast(base: u32, thetaBits: u32, lid: u32) -> f32 {
  var sum = 0.0;
  for (var j = lid; j < params.kept; j += WG) {
    let s = scores[base + j];
    if (bitcast<u32>(s) >= thetaBits) { sum += s; }
  }
  return workgroupSum(sum, lid);
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let kvHead = wid.x;
  let base = kvHead * CAPACITY;
  let kept = params.kept;

  var maxBits = 0u;
  for (var j = lid; j < kept; j += WG) {
    var best = scores[base + j];
    for (var k = max(j, 3u) - 3u; k <= min(j + 3u, kept - 1u); k++) { best = max(best, scores[base + k]); }
    pooled[base + j] = best;
    maxBits = max(maxBits, bitcast<u32>(scores[base + j]));
  }
  if (!WITH_LMBA) { return; }
  maxBits = workgroupReduceU32(maxBits, lid, 1u);

  // Largest thetaBits in [lo, hi) with mass >= tau * total; mass(0) = total holds it for tau <= 1.
  let needed = params.tau * massAtLeast(base, 0u, lid);
  var lo = 0u;
  var hi = maxBits + 1u;
  while (hi - lo > 1u) {
    let mid = lo + (hi - lo) / 2u;
    if (massAtLeast(base, mid, lid) >= needed) { lo = mid; } else { hi = mid; }
  }

  var count = 0u;
  for (var j = lid; j < kept; j += WG) {
    if (bitcast<u32>(scores[base + j]) >= lo) { count++; }
  }
  count = workgroupReduceU32(count, lid, 0u);
  if (lid == 0u) { lmba[kvHead] = count; }
}
