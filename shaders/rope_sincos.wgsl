// sinCos(a) for rotary position embeddings, prepended by the shader registry to rope.wgsl and
// matmul_q4_gemv.wgsl (WGSL has no includes). WGSL's sin and cos promise only 2^-11 absolute error,
// and only on [-pi, pi] (SwiftShader's are off by ~2e-4), while rotary angles reach tens of thousands
// of radians in long contexts.
// pi/2 in parts of <= 7 significant bits (so k * part is exact for |k| < 2^17) and an f32 rest.
const PIO2_1 = 1.5625;
const PIO2_2 = 0.0081787109375;
const PIO2_3 = 0.00011730194091796875;
const PIO2_4 = 3.129243850708008e-7;
const PIO2_5 = 9.89530235528946e-10;
const PIO2_6 = 2.2737367544323206e-12;
const PIO2_7 = 2.896073951e-13;

// (sin a, cos a) to about one f32 ulp for |a| < 2e5: Cody-Waite reduction a = k pi/2 + r, |r| <= pi/4
// (each step exact, see PIO2_*), then the Cephes sinf/cosf minimax polynomials on r.
fn sinCos(a: f32) -> vec2<f32> {
  let k = round(a * 0.636619772);
  var r = a - k * PIO2_1;
  r -= k * PIO2_2;
  r -= k * PIO2_3;
  r -= k * PIO2_4;
  r -= k * PIO2_5;
  r -= k * PIO2_6;
  r -= k * PIO2_7;
  let z = r * r;
  let s = r + r * z * (-1.6666654611e-1 + z * (8.3321608736e-3 + z * -1.9515295891e-4));
  let c = 1.0 - 0.5 * z + z * z * (4.166664568298827e-2 + z * (-1.388731625493765e-3 + z * 2.443315711809948e-5));
  switch (i32(k) & 3) {
    case 0: { return vec2<f32>(s, c); }
    case 1: { return vec2<f32>(c, -s); }
    case 2: { return vec2<f32>(-s, -c); }
    default: { return vec2<f32>(-c, s); }
  }
}
