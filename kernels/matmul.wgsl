// C = op(A) op(B) (+ bias[n]), batched over g: the dense layer and its two backwards.
// op(A) is M x K, stored as M x K, or as K x M when transA = 1; likewise op(B), K x N.
// The tiling is the GEMM core's; this file only says where the operands live. A column of B
// starts at a fixed offset and each step of k moves by a fixed stride (gemm_b_matrix.wgsl).

fn loadA(g: u32, m: u32, k: u32) -> f32 {
  let p = layout.$.params;
  let base = g * p.strideA;
  if (p.transA == 1u) { return layout.$.a[base + k * p.M + m]; }
  return layout.$.a[base + m * p.K + k];
}

fn bColumn(g: u32, n: u32) -> BColumn {
  let p = layout.$.params;
  return BColumn(g * p.strideB + select(n, n * p.K, p.transB == 1u));
}

fn storeC(g: u32, m: u32, n: u32, v: f32) {
  let p = layout.$.params;
  var out = v;
  if (p.hasBias == 1u) { out += layout.$.bias[n]; }
  layout.$.c[g * p.strideC + m * p.N + n] = out;
}
