// Appends the keys and values of T new tokens to one layer's KIVI residual: the fp16 ring of the
// newest tokens (src/engine/kv/layout.ts), rounded like kv_append_f16.
//   qkv            [T, (NUM_HEADS + 2 * NUM_KV_HEADS) * HEAD_DIM] f32, keys already rotated
//   residualKeys   [NUM_KV_HEADS, RING, HEAD_DIM / 2] u32: f16 pairs (dims 2w, 2w+1) packed per word
//   residualValues [NUM_KV_HEADS, RING, HEAD_DIM / 2] u32, same packing
//   kvBatch        uniform: token t becomes residual token residualLen + t, in ring slot
//                  (residualStart + residualLen + t) % RING
// Grid: (ceil(NUM_KV_HEADS * HEAD_DIM / 2 / 64), T); one invocation per packed word of k and of v.
override HEAD_DIM: u32;
override NUM_HEADS: u32;
override NUM_KV_HEADS: u32;
override RING: u32;

// The first four fields are the fp16 kernels' `Batch`, so attention_reduce can bind this buffer.
struct KvBatch {
  numTokens: u32, startPos: u32, numSplits: u32, firstRow: u32,
  residualStart: u32, residualLen: u32, flushBlocks: u32, pad: u32,
}

@group(0) @binding(0) var<storage, read> qkv: array<f32>;
@group(0) @binding(1) var<storage, read_write> residualKeys: array<u32>;
@group(0) @binding(2) var<storage, read_write> residualValues: array<u32>;
@group(0) @binding(3) var<uniform> kvBatch: KvBatch;

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
  let ringSlot = (kvBatch.residualStart + kvBatch.residualLen + t) % RING;
  let word = (kvHead * RING + ringSlot) * wordsPerHead + w;
  residualKeys[word] = pack2x16float(vec2<f32>(qkv[k], qkv[k + 1u]));
  residualValues[word] = pack2x16float(vec2<f32>(qkv[v], qkv[v + 1u]));
}
