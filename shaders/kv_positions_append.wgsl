// Records the original positions of a chunk's T new tokens in one layer's positions buffer
// (src/engine/kv/evictionLayout.ts): the chunk's token t becomes kept token kept + t of every KV head.
//   positions [NUM_KV_HEADS, CAPACITY] u32: positions[h * CAPACITY + kept + t] = startPos + t
//   params    uniform PositionsAppend { kept, startPos, numTokens, pad }: kept = tokens per head
//             before the chunk, startPos = the chunk's first position
// Grid: (ceil(numTokens / 64), NUM_KV_HEADS); one invocation per token and head.
override NUM_KV_HEADS: u32;
override CAPACITY: u32;

struct PositionsAppend { kept: u32, startPos: u32, numTokens: u32, pad: u32 }

@group(0) @binding(0) var<storage, read_write> positions: array<u32>;
@group(0) @binding(1) var<uniform> params: PositionsAppend;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let t = gid.x;
  let kvHead = gid.y;
  if (t >= params.numTokens || kvHead >= NUM_KV_HEADS) { return; }
  positions[kvHead * CAPACITY + params.kept + t] = params.startPos + t;
}
