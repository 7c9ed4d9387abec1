// Repetition penalty (CTRL / HF convention) on the logits of tokens already in the context:
// a positive logit is divided by the penalty, a negative one multiplied by it.
//   logits  [VOCAB] f32, updated in place
//   tokens  [count] u32: distinct token ids seen so far
//   params  uniform: count, penalty
// Grid: (ceil(count / 64)).
struct Params { count: u32, penalty: f32 }

@group(0) @binding(0) var<storage, read_write> logits: array<f32>;
@group(0) @binding(1) var<storage, read> tokens: array<u32>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  if (gid.x >= params.count) { return; }
  let token = tokens[gid.x];
  let logit = logits[token];
  logits[token] = select(logit * params.penalty, logit / params.penalty, logit > 0.0);
}
