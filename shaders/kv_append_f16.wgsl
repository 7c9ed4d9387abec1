// Appends the keys and values of T new tokens to one layer's fp16 KV cache.
//   qkv    [T, (NUM_HEADS + 2 * NUM_KV_HEADS) * HEAD_DIM] f32, keys already rotated
//   keys   [NUM_KV_HEADS, MAX_SEQ, HEAD_DIM / 2] u32: f16 pairs (dims 2w, 2w+1) packed per word
//   values [NUM_KV_HEADS, MAX_SEQ, HEAD_DIM / 2] u32, same packing
//   batch  uniform: token t goes to cache slot startPos + t
// Grid: (ceil(NUM_KV_HEADS * HEAD_DIM / 2 / 64), T); one invocation per packed word of k and of v.
override HEAD_DIM: u32;
override NUM_HEADS: u32;
override NUM_KV_HEADS: u32;
override MAX_SEQ: u32;

struct Batch { numTokens: u32, startPos: u32, numSplits: u32, firstRow: u32 }

@group(0) @binding(0) var<storage, read> qkv: array<f32>;
@group(0) @binding(1) var<storage, read_write> keys: array<u32>;
@group(0) @binding(2) var<storage, read_write> values: array<u32>;
@group(0) @binding(3) var<uniform> batch: Batch;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let wordsPerHead = HEAD_DIM / 2u;
  let i = gid.x;
  if (i >= NUM_KV_HEADS * wordsPerHead) { return; }
  let t = gid.y;
  let kvHead = i / wordsPerHead;
  let w = i % wordsPerHead;
  let row = t * (NUM_HEADS + 2u * NUM_KV_HEADS) * HEAD_DIM;
  let k = row + (NUM_HEADS + kvHead) * HEAD_DIM + 2u * w;
  let v = row + (NUM_HEADS + NUM_KV_HEADS + kvHead) * HEAD_DIM + 2u * w;
  let slot = (kvHead * MAX_SEQ + batch.startPos + t) * wordsPerHead + w;
  keys[slot] = pack2x16float(vec2<f32>(qkv[k], qkv[k + 1u]));
  values[slot] = pack2x16float(vec2<f32>(qkv[v], qkv[v + 1u]));
}
