// Greedy sampling: token[0] = argmax logits, the lowest index winning ties.
//   logits [VOCAB] f32
//   token  [1] u32
// Grid: (1); one workgroup of 256 strides over the vocabulary.
override VOCAB: u32;

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read_write> token: array<u32>;

var<workgroup> bestValue: array<f32, 256>;
var<workgroup> bestIndex: array<u32, 256>;

// Each invocation loads UNROLL logits per round (all independent, so they are in flight together
// instead of one memory latency per logit), visiting its indices in increasing order.
const UNROLL = 8u;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32) {
  var value = -3.0e38;
  var index = 0xffffffffu;
  for (var base = lid; base < VOCAB; base += 256u * UNROLL) {
    var round: array<f32, UNROLL>;
    for (var u = 0u; u < UNROLL; u++) {
      let i = base + u * 256u;
      round[u] = select(-3.0e38, logits[min(i, VOCAB - 1u)], i < VOCAB);
    }
    for (var u = 0u; u < UNROLL; u++) {
      if (round[u] > value) { value = round[u]; index = base + u * 256u; }
    }
  }
  bestValue[lid] = value;
  bestIndex[lid] = index;
  workgroupBarrier();
  for (var stride = 128u; stride > 0u; stride >>= 1u) {
    if (lid < stride) {
      let otherValue = bestValue[lid + stride];
      let otherIndex = bestIndex[lid + stride];
      if (otherValue > bestValue[lid] || (otherValue == bestValue[lid] && otherIndex < bestIndex[lid])) {
        bestValue[lid] = otherValue;
        bestIndex[lid] = otherIndex;
      }
    }
    workgroupBarrier();
  }
  if (lid == 0u) { token[0] = bestIndex[0]; }
}
