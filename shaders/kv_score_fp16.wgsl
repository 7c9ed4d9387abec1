// Eviction step 1 for the fp16 cache (src/engine/kv/evictionLayout.ts): the attention mass each kept
// token receives from the observation window, in one pass over the cache's keys.
//   keys       [NUM_KV_HEADS, MAX_SEQ, HEAD_DIM / 2] u32 (f16 pairs, kv_append_f16's layout): slot j = kept token j
//   positions  [NUM_KV_HEADS, CAPACITY] u32: original position of kept token j of head h at h * CAPACITY + j
//   queryRing  [WINDOW, NUM_HEADS, HEAD_DIM] f32, statsRing [WINDOW, NUM_HEADS, 2] f32 (M, L): kv_window_capture's
//   scores     [NUM_KV_HEADS, CAPACITY] f32: for j < kept,
//              scores[h * CAPACITY + j] = sum over window queries i < window (position p_i = windowEnd - 1 - i,
//              ring slot p_i % WINDOW) with positions_j <= p_i, and over the query heads h' of KV head h,
//              of exp(q_{i,h'} . k_j / sqrt(HEAD_DIM) - M_{i,h'}) / L_{i,h'}. Entries j >= kept are not written.
//   params     uniform EvictParams { kept, select, sinks, recent, window, windowEnd, tau: f32, pad };
//              this kernel reads kept, window (<= WINDOW and <= windowEnd) and windowEnd
// Each workgroup stages one window query's NUM_HEADS / NUM_KV_HEADS heads (<= 8) at a time; each
// invocation owns one kept token and reads its key once per window query.
// Grid: (ceil(kept / 64), NUM_KV_HEADS); 64 invocations. HEAD_DIM even and <= 128, GQA group <= 8.
override HEAD_DIM: u32;
override NUM_HEADS: u32;
override NUM_KV_HEADS: u32;
override MAX_SEQ: u32;
override WINDOW: u32;
override CAPACITY: u32;

// Derived from the overrides above; callers never set them (workgroup array sizes must be override names).
// The group's heads go 4 to a vec4 ("quad"), so one multiply-add serves 4 heads.
override QUADS: u32 = (NUM_HEADS / NUM_KV_HEADS + 3u) / 4u;
override QUERY_VEC4S: u32 = HEAD_DIM * QUADS;

const WG = 64u;
const MAX_GROUP = 8u;
/** HEAD_DIM <= 2 * MAX_PAIRS: a token's key is unpacked once into a private array of pairs. */
const MAX_PAIRS = 64u;

struct EvictParams { kept: u32, select: u32, sinks: u32, recent: u32, window: u32, windowEnd: u32, tau: f32, pad: u32 }

@group(0) @binding(0) var<storage, read> keys: array<u32>;
@group(0) @binding(1) var<storage, read> positions: array<u32>;
@group(0) @binding(2) var<storage, read> queryRing: array<f32>;
@group(0) @binding(3) var<storage, read> statsRing: array<f32>;
@group(0) @binding(4) var<storage, read_write> scores: array<f32>;
@group(0) @binding(5) var<uniform> params: EvictParams;

// [HEAD_DIM, QUADS] vec4 of the staged window query, scaled by 1 / sqrt(HEAD_DIM): channel c of group
// heads 4q .. 4q + 3 at c * QUADS + q (0 past the group); its (M, L) per head.
var<workgroup> query: array<vec4<f32>, QUERY_VEC4S>;
var<workgroup> stats: array<vec2<f32>, MAX_GROUP>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let kvHead = wid.y;
  let j = wid.x * WG + lid;
  let group = NUM_HEADS / NUM_KV_HEADS;
  let firstHead = kvHead * group;
  let halfDim = HEAD_DIM / 2u;
  let scale = inverseSqrt(f32(HEAD_DIM));
  let valid = j < params.kept;
  var position = 0u;
  if (valid) { position = positions[kvHead * CAPACITY + j]; }
  let keyRow = (kvHead * MAX_SEQ + j) * halfDim;
  // The key, unpacked once for every window query.
  var key: array<vec2<f32>, MAX_PAIRS>;
  if (valid) {
    for (var w = 0u; w < halfDim; w++) { key[w] = unpack2x16float(keys[keyRow + w]); }
  }

  var score = 0.0;
  for (var i = 0u; i < params.window; i++) {
    let queryPosition = params.windowEnd - 1u - i;
    let slot = queryPosition % WINDOW;
    for (var e = lid; e < QUERY_VEC4S; e += WG) {
      let c = e / QUADS;
      var quad = vec4<f32>(0.0);
      for (var lane = 0u; lane < 4u; lane++) {
        let g = (e % QUADS) * 4u + lane;
        if (g < group) { quad[lane] = queryRing[(slot * NUM_HEADS + firstHead + g) * HEAD_DIM + c] * scale; }
      }
      query[e] = quad;
    }
    if (lid < group) {
      let at = 2u * (slot * NUM_HEADS + firstHead + lid);
      stats[lid] = vec2<f32>(statsRing[at], statsRing[at + 1u]);
    }
    workgroupBarrier();

    if (valid && position <= queryPosition) {
      // Every head's dot product in a vec4 register, 4 heads per multiply-add: a dynamically indexed
      // array of dots put each multiply-add through local memory (0.4 ms per layer on an H200).
      var low = vec4<f32>(0.0);
      var high = vec4<f32>(0.0);
      for (var w = 0u; w < halfDim; w++) {
        let k = key[w];
        let even = 2u * w * QUADS;
        low += query[even] * k.x + query[even + QUADS] * k.y;
        if (QUADS > 1u) { high += query[even + 1u] * k.x + query[even + QUADS + 1u] * k.y; }
      }
      for (var g = 0u; g < group; g++) { score += exp(select(high, low, g < 4u)[g % 4u] - stats[g].x) / stats[g].y; }
    }
    workgroupBarrier();
  }
  if (valid) { scores[kvHead * CAPACITY + j] = score; }
}
