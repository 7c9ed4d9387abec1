// Eviction step 1 for the KIVI cache (src/engine/kv/evictionLayout.ts, layouts in src/engine/kv/layout.ts):
// the attention mass each kept token receives from the observation window, with keys dequantized on
// the fly from their codes (block tokens) or read from the fp16 residual ring; nothing is materialized.
//   keyBlocks  [poolBlocks, KEY_CODE_WORDS + HEAD_DIM] u32: channel-major codes, then (scale, min) per channel
//   blockTable [NUM_KV_HEADS * MAX_BLOCKS + NUM_KV_HEADS] u32: each head's pool ids, then headBlocks
//   residualKeys [NUM_KV_HEADS, RING, HEAD_DIM / 2] u32 (f16 pairs): residual token r in slot (residualStart + r) % RING
//   positions  [NUM_KV_HEADS, CAPACITY] u32: original position of kept token j of head h at h * CAPACITY + j
//   queryRing  [WINDOW, NUM_HEADS, HEAD_DIM] f32, statsRing [WINDOW, NUM_HEADS, 2] f32 (M, L): kv_window_capture's
//   scores     [NUM_KV_HEADS, CAPACITY] f32: as kv_score_fp16 (entries j >= kept are not written), where
//              kept token j of head h is block token j % GROUP of block j / GROUP for j < headBlocks * GROUP,
//              else residual token j - headBlocks * GROUP, dequantized as code * scale + min
//   params     uniform KiviEvictParams: EvictParams { kept, select, sinks, recent, window, windowEnd, tau: f32, pad }
//              followed by { residualStart, pad, pad, pad } (48 bytes). The residual fields of the last
//              chunk's KvBatch describe the ring before that chunk's flush, so they cannot serve here:
//              the caller writes the ring's current residualStart after EvictParams. The other eviction
//              kernels bind the same 48-byte buffer (they read its first 32 bytes).
// Grid: (ceil(kept / 64), NUM_KV_HEADS); 64 invocations, one kept token each. HEAD_DIM even and <= 128, GQA group <= 8,
// GROUP * KEY_BITS a multiple of 32.
override HEAD_DIM: u32;
override NUM_HEADS: u32;
override NUM_KV_HEADS: u32;
override GROUP: u32;
override KEY_BITS: u32;
override RING: u32;
override MAX_BLOCKS: u32;
override WINDOW: u32;
override CAPACITY: u32;

// Derived from the overrides above; callers never set them (workgroup array sizes must be override names).
// The group's heads go 4 to a vec4 ("quad"), so one multiply-add serves 4 heads.
override QUADS: u32 = (NUM_HEADS / NUM_KV_HEADS + 3u) / 4u;
override QUERY_VEC4S: u32 = HEAD_DIM * QUADS;

const WG = 64u;
const MAX_GROUP = 8u;
/** HEAD_DIM <= 2 * MAX_PAIRS: a token's key is dequantized once into a private array of pairs. */
const MAX_PAIRS = 64u;

struct KiviEvictParams {
  kept: u32, select: u32, sinks: u32, recent: u32, window: u32, windowEnd: u32, tau: f32, pad: u32,
  residualStart: u32, pad1: u32, pad2: u32, pad3: u32,
}

@group(0) @binding(0) var<storage, read> keyBlocks: array<u32>;
@group(0) @binding(1) var<storage, read> blockTable: array<u32>;
@group(0) @binding(2) var<storage, read> residualKeys: array<u32>;
@group(0) @binding(3) var<storage, read> positions: array<u32>;
@group(0) @binding(4) var<storage, read> queryRing: array<f32>;
@group(0) @binding(5) var<storage, read> statsRing: array<f32>;
@group(0) @binding(6) var<storage, read_write> scores: array<f32>;
@group(0) @binding(7) var<uniform> params: KiviEvictParams;

// [HEAD_DIM, QUADS] vec4 of the staged window query, scaled by 1 / sqrt(HEAD_DIM): channel c of group
// heads 4q .. 4q + 3 at c * QUADS + q (0 past the group); its (M, L) per head.
var<workgroup> query: array<vec4<f32>, QUERY_VEC4S>;
var<workgroup> stats: array<vec2<f32>, MAX_GROUP>;

/** Where kept token j's key lives: a block (base word of its pool block, token within) or a ring row. */
struct KeyLocation { inBlock: bool, blockBase: u32, token: u32, ringRow: u32 }

/** Channels 2w and 2w + 1 of the key at `at`. */
fn keyPair(at: KeyLocation, w: u32) -> vec2<f32> {
  if (!at.inBlock) { return unpack2x16float(residualKeys[at.ringRow + w]); }
  let codeWords = HEAD_DIM * GROUP * KEY_BITS / 32u;
  let wordsPerChannel = GROUP * KEY_BITS / 32u;
  let word = at.blockBase + (at.token * KEY_BITS) / 32u;
  let shift = (at.token * KEY_BITS) % 32u;
  let mask = (1u << KEY_BITS) - 1u;
  let c = 2u * w;
  let code = vec2<f32>(f32((keyBlocks[word + c * wordsPerChannel] >> shift) & mask),
                       f32((keyBlocks[word + (c + 1u) * wordsPerChannel] >> shift) & mask));
  let sm0 = unpack2x16float(keyBlocks[at.blockBase + codeWords + c]);
  let sm1 = unpack2x16float(keyBlocks[at.blockBase + codeWords + c + 1u]);
  return vec2<f32>(code.x * sm0.x + sm0.y, code.y * sm1.x + sm1.y);
}

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
  var at = KeyLocation(false, 0u, 0u, 0u);
  if (valid) {
    position = positions[kvHead * CAPACITY + j];
    let blockTokens = blockTable[NUM_KV_HEADS * MAX_BLOCKS + kvHead] * GROUP;
    if (j < blockTokens) {
      let block = blockTable[kvHead * MAX_BLOCKS + j / GROUP];
      at = KeyLocation(true, block * (HEAD_DIM * GROUP * KEY_BITS / 32u + HEAD_DIM), j % GROUP, 0u);
    } else {
      at = KeyLocation(false, 0u, 0u, (kvHead * RING + (params.residualStart + j - blockTokens) % RING) * halfDim);
    }
  }

  // The key, dequantized once for every window query (reading it per query made the kernel latency-bound).
  var key: array<vec2<f32>, MAX_PAIRS>;
  if (valid) {
    for (var w = 0u; w < halfDim; w++) { key[w] = keyPair(at, w); }
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
      let s = 2u * (slot * NUM_HEADS + firstHead + lid);
      stats[lid] = vec2<f32>(statsRing[s], statsRing[s + 1u]);
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
