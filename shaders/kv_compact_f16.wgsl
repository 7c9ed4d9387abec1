// Eviction step 4 on the fp16 cache (src/engine/kv/evictionLayout.ts): gathers one layer's kept
// tokens into their compacted order. Compacted token i of head h is old kept token
// sourceOf[h * MAX_SEQ + i]; sourceOf increases with i, yet a parallel gather in place would still
// overwrite slots that other invocations have not read yet, so this kernel writes scratch buffers
// of the cache's shapes and the orchestrator then copies them back with copyBufferToBuffer
// (scratchKeys -> keys, scratchValues -> values, scratchPositions -> positions; only slots
// i < newKept of each head carry data, later slots hold whatever scratch held and are never read).
//   keys, values      [NUM_KV_HEADS, MAX_SEQ, HEAD_DIM / 2] u32: f16 pairs (kv_append_f16.wgsl)
//   positions         [NUM_KV_HEADS, MAX_SEQ] u32: original position of each kept token
//   sourceOf          [NUM_KV_HEADS, MAX_SEQ] u32: old kept index of compacted token i at
//                     h * MAX_SEQ + i, for i < newKept (kv_select)
//   scratchKeys, scratchValues [NUM_KV_HEADS, MAX_SEQ, HEAD_DIM / 2] u32, scratchPositions
//                     [NUM_KV_HEADS, MAX_SEQ] u32: slots i < newKept of every head are written,
//                     nothing else
//   compaction        uniform Compaction { newKept, newBlocks, pad, pad } (16 bytes): newKept = tokens
//                     every head keeps; newBlocks belongs to the KIVI kernels and is not read here
// Grid: (ceil(newKept * HEAD_DIM / 2 / 64), NUM_KV_HEADS), so newKept * HEAD_DIM / 2 <= 65535 * 64;
// one invocation per packed word of a compacted token's key and value (consecutive invocations
// read consecutive words); the invocation of a token's word 0 also moves its position.
override HEAD_DIM: u32;
override NUM_KV_HEADS: u32;
override MAX_SEQ: u32;

struct Compaction { newKept: u32, newBlocks: u32, pad0: u32, pad1: u32 }

@group(0) @binding(0) var<storage, read> keys: array<u32>;
@group(0) @binding(1) var<storage, read> values: array<u32>;
@group(0) @binding(2) var<storage, read> positions: array<u32>;
@group(0) @binding(3) var<storage, read> sourceOf: array<u32>;
@group(0) @binding(4) var<storage, read_write> scratchKeys: array<u32>;
@group(0) @binding(5) var<storage, read_write> scratchValues: array<u32>;
@group(0) @binding(6) var<storage, read_write> scratchPositions: array<u32>;
@group(0) @binding(7) var<uniform> compaction: Compaction;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let wordsPerToken = HEAD_DIM / 2u;
  let i = gid.x / wordsPerToken;
  let w = gid.x % wordsPerToken;
  let h = gid.y;
  if (i >= compaction.newKept || h >= NUM_KV_HEADS) { return; }
  let src = sourceOf[h * MAX_SEQ + i];
  let oldWord = (h * MAX_SEQ + src) * wordsPerToken + w;
  let newWord = (h * MAX_SEQ + i) * wordsPerToken + w;
  scratchKeys[newWord] = keys[oldWord];
  scratchValues[newWord] = values[oldWord];
  if (w == 0u) { scratchPositions[h * MAX_SEQ + i] = positions[h * MAX_SEQ + src]; }
}
