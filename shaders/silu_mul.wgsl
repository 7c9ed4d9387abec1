// SwiGLU activation on the fused gate_up projection: act[t, i] = silu(gate[t, i]) * up[t, i].
//   gateUp [T, 2 * INTERMEDIATE] f32: gate in columns 0..I-1, up in I..2I-1 (MLC gate_up_proj order)
//   act    [T, INTERMEDIATE] f32
// Grid: (ceil(INTERMEDIATE / 64), T).
override INTERMEDIATE: u32;

@group(0) @binding(0) var<storage, read> gateUp: array<f32>;
@group(0) @binding(1) var<storage, read_write> act: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= INTERMEDIATE) { return; }
  let t = gid.y;
  let gate = gateUp[t * 2u * INTERMEDIATE + i];
  let up = gateUp[t * 2u * INTERMEDIATE + INTERMEDIATE + i];
  act[t * INTERMEDIATE + i] = gate / (1.0 + exp(-gate)) * up;
}
