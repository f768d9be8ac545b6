// Gram matrix of two sets of feature rows, on a GEMM core (gemm.ts), one block at a time:
//
//   out[m, n] = exp(-gamma * d2)  (rbf = 1)   or   d2  (rbf = 0),   out is [M, N],
//   d2 = max(|x_r|^2 + |y_c|^2 - 2 x_r . y_c, 0),   r = rowOffset + m,  c = colOffset + n.
//
// The core computes the dot products x_r . y_c: A = the rows of x, B = y transposed ([width, ldB]),
// so that neighbouring invocations, which own neighbouring columns, read neighbouring values of B
// per k instead of a row's stride apart; a column of B then steps by ldB per k.
// storeC turns each product into a squared distance from the precomputed squared norms (row_norms.wgsl).
// In float32 that difference cancels badly for near neighbours and can come out slightly
// negative, so it is clamped at 0; on the diagonal of a Gram of a set with itself (symmetric = 1)
// it is exactly 0 by definition, so k(x, x) = 1 to the last bit.

fn loadA(g: u32, m: u32, k: u32) -> f32 {
  let p = layout.$.params;
  return layout.$.x[(p.rowOffset + m) * p.K + k];
}

struct BColumn { offset: u32 }
struct BCursor { offset: u32 }

fn bColumn(g: u32, n: u32) -> BColumn {
  return BColumn(layout.$.params.colOffset + n);
}

fn bCursor(g: u32, k: u32) -> BCursor {
  return BCursor(k * layout.$.params.ldB);
}

fn bNext(cursor: BCursor) -> BCursor {
  return BCursor(cursor.offset + layout.$.params.ldB);
}

fn bAt(column: BColumn, cursor: BCursor) -> f32 {
  return layout.$.yT[column.offset + cursor.offset];
}

fn storeC(g: u32, m: u32, n: u32, v: f32) {
  let p = layout.$.params;
  let r = p.rowOffset + m;
  let c = p.colOffset + n;
  var d2 = max(layout.$.xNorm[r] + layout.$.yNorm[c] - 2.0 * v, 0.0);
  if (p.symmetric == 1u && r == c) { d2 = 0.0; }
  var value = d2;
  if (p.rbf == 1u) { value = exp(-p.gamma * d2); }
  layout.$.out[m * p.N + n] = value;
}
