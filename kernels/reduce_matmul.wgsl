// C[g] = op(A[g]) op(B[g]) for every g of the broadcast batch dims (ONNX/numpy MatMul between two
// activations). op(A) is M x K, stored as M x K, or K x M when transA = 1; likewise op(B), K x N.
// g runs row-major over the output's batch dims (batchSizes); each operand's matrix starts at the
// sum over those dims of coordinate times the operand's stride, which is 0 along a dim the operand
// broadcasts. C is contiguous. The tiling is the GEMM core's; this file only says where operands live.

fn lane(v: array<vec4u, 2>, i: u32) -> u32 { return v[i / 4u][i % 4u]; }

fn batchOffset(g: u32, strides: array<vec4u, 2>) -> u32 {
  let p = layout.$.params;
  var rest = g;
  var offset = 0u;
  for (var k = i32(p.batchRank) - 1; k >= 0; k--) {
    let size = lane(p.batchSizes, u32(k));
    offset += (rest % size) * lane(strides, u32(k));
    rest /= size;
  }
  return offset;
}

fn loadA(g: u32, m: u32, k: u32) -> f32 {
  let p = layout.$.params;
  let base = batchOffset(g, p.stridesA);
  if (p.transA == 1u) { return layout.$.a[base + k * p.M + m]; }
  return layout.$.a[base + m * p.K + k];
}

fn bColumn(g: u32, n: u32) -> BColumn {
  let p = layout.$.params;
  return BColumn(batchOffset(g, p.stridesB) + select(n, n * p.K, p.transB == 1u));
}

fn storeC(g: u32, m: u32, n: u32, v: f32) {
  let p = layout.$.params;
  layout.$.c[(g * p.M + m) * p.N + n] = v;
}
