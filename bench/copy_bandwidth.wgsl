// Copy-bandwidth probe: dst[i] = src[i]. Its bytes/s (read + write) is the ceiling that decode
// kernels, which are memory-bound, are compared against.
//
// Buffers:
//   src: array<vec4<u32>>, N words of 16 B (read)
//   dst: array<vec4<u32>>, N words of 16 B (written)
// Launch: workgroups (ROW_WORKGROUPS, ceil(ceil(N / 256) / ROW_WORKGROUPS)), 256 invocations each,
// one word per invocation (2-D because one grid dimension holds at most 65535 workgroups).

override ROW_WORKGROUPS: u32 = 32768u;

@group(0) @binding(0) var<storage, read> src: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4<u32>>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wg.y * ROW_WORKGROUPS + wg.x) * 256u + lid;
  if (i < arrayLength(&src)) {
    dst[i] = src[i];
  }
}
