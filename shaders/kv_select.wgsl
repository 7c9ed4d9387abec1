// Eviction step 3 (src/engine/kv/evictionLayout.ts): per KV head, which kept tokens survive and where
// they go. Tokens j < kept are sinks (position < sinks), protected recent (j >= kept - recent) or
// candidates (the rest). Kept: every sink, every recent token and the `select` candidates with the
// largest pooled score, ties going to the lower kept index; all candidates when select >= their count.
//   positions [NUM_KV_HEADS, CAPACITY] u32: original position of kept token j of head h at h * CAPACITY + j
//   pooled    [NUM_KV_HEADS, CAPACITY] f32, non-negative and finite (kv_pool_lmba's output)
//   newIndex  [NUM_KV_HEADS, CAPACITY] u32: for j < kept, kept token j's index in the compacted order
//             (survivors in kept order), or EVICTED (0xffffffff)
//   sourceOf  [NUM_KV_HEADS, CAPACITY] u32: for i < newKept, the old kept index of compacted token i;
//             newKept = sinks kept + recent kept + min(select, candidates), the same in every head
//   params    uniform EvictParams { kept, select, sinks, recent, window, windowEnd, tau: f32, pad }:
//             kept, select, sinks, recent
// The select-th largest candidate score theta is found by bisection on the f32 bit patterns (value
// order for non-negative floats); candidates above theta are chosen, and of those equal to theta the
// first select - (count above) in kept order, ranked by a workgroup prefix scan in tiles of 256.
// Grid: (NUM_KV_HEADS); 256 invocations per head.
override CAPACITY: u32;

const WG = 256u;
const EVICTED = 0xffffffffu;

struct EvictParams { kept: u32, select: u32, sinks: u32, recent: u32, window: u32, windowEnd: u32, tau: f32, pad: u32 }

@group(0) @binding(0) var<storage, read> positions: array<u32>;
@group(0) @binding(1) var<storage, read> pooled: array<f32>;
@group(0) @binding(2) var<storage, read_write> newIndex: array<u32>;
@group(0) @binding(3) var<storage, read_write> sourceOf: array<u32>;
@group(0) @binding(4) var<uniform> params: EvictParams;

var<workgroup> partialWords: array<u32, WG>;

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

/** (exclusive prefix sum of v over invocations before lid, workgroup total). */
fn workgroupScan(v: u32, lid: u32) -> vec2<u32> {
  partialWords[lid] = v;
  workgroupBarrier();
  for (var offset = 1u; offset < WG; offset <<= 1u) {
    var add = 0u;
    if (lid >= offset) { add = partialWords[lid - offset]; }
    workgroupBarrier();
    partialWords[lid] += add;
    workgroupBarrier();
  }
  let result = vec2<u32>(partialWords[lid] - v, partialWords[WG - 1u]);
  workgroupBarrier();
  return result;
}

fn isCandidate(base: u32, j: u32, recentStart: u32) -> bool {
  return j < recentStart && positions[base + j] >= params.sinks;
}

/** Candidates whose pooled score's bit pattern is >= thetaBits. */
fn candidatesAtLeast(base: u32, recentStart: u32, thetaBits: u32, lid: u32) -> u32 {
  var count = 0u;
  for (var j = lid; j < recentStart; j += WG) {
    if (isCandidate(base, j, recentStart) && bitcast<u32>(pooled[base + j]) >= thetaBits) { count++; }
  }
  return workgroupReduceU32(count, lid, 0u);
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let base = wid.x * CAPACITY;
  let kept = params.kept;
  let recentStart = kept - min(params.recent, kept);

  var maxBits = 0u;
  for (var j = lid; j < recentStart; j += WG) {
    if (isCandidate(base, j, recentStart)) { maxBits = max(maxBits, bitcast<u32>(pooled[base + j])); }
  }
  maxBits = workgroupReduceU32(maxBits, lid, 1u);
  let candidates = candidatesAtLeast(base, recentStart, 0u, lid);

  // Chosen: candidates with bits > theta, then the first tieSlots with bits == theta in kept order.
  var theta = 0u;
  var tieSlots = 0xffffffffu;
  if (params.select < candidates) {
    var hi = maxBits + 1u;
    while (hi - theta > 1u) {
      let mid = theta + (hi - theta) / 2u;
      if (candidatesAtLeast(base, recentStart, mid, lid) >= params.select) { theta = mid; } else { hi = mid; }
    }
    tieSlots = params.select - candidatesAtLeast(base, recentStart, theta + 1u, lid);
  }

  var tiesBefore = 0u;
  var survivorsBefore = 0u;
  for (var tile = 0u; tile < kept; tile += WG) {
    let j = tile + lid;
    var sink = false;
    var candidate = false;
    var bits = 0u;
    if (j < kept) {
      sink = positions[base + j] < params.sinks;
      candidate = isCandidate(base, j, recentStart);
      bits = bitcast<u32>(pooled[base + j]);
    }
    let tie = candidate && bits == theta;
    let tieRank = workgroupScan(u32(tie), lid);
    let chosen = candidate && (bits > theta || (tie && tiesBefore + tieRank.x < tieSlots));
    let survives = j < kept && (sink || j >= recentStart || chosen);
    let survivorRank = workgroupScan(u32(survives), lid);
    if (j < kept) {
      let index = survivorsBefore + survivorRank.x;
      newIndex[base + j] = select(EVICTED, index, survives);
      if (survives) { sourceOf[base + index] = j; }
    }
    tiesBefore += tieRank.y;
    survivorsBefore += survivorRank.y;
  }
}
