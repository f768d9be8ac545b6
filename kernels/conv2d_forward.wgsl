// conv2d forward as an implicit GEMM, per group g:
//   y[(n,oy,ox), co] = sum over (ci,r,s) of W[co, (ci,r,s)] * im2col(x)[(ci,r,s), (n,oy,ox)]
// M = Cout/groups, N = batch*Ho*Wo, K = Cin/groups*R*S. The PyTorch weight order
// [Cout, Cin/groups, R, S] already is A row-major, so A is a plain read and only B gathers:
// a column of B is an output pixel, and k walks the taps.
// The bias is added in the store so the layer needs no second pass over y.

fn loadA(g: u32, m: u32, k: u32) -> f32 {
  let p = layout.$.params;
  return layout.$.weight[(g * p.groupOutChannels + m) * p.K + k];
}

alias BColumn = Im2colPixel;
alias BCursor = Im2colTap;

fn bColumn(g: u32, n: u32) -> BColumn {
  return im2colPixel(n);
}

fn bCursor(g: u32, k: u32) -> BCursor {
  return im2colTap(g, k);
}

fn bNext(cursor: BCursor) -> BCursor {
  return nextIm2colTap(cursor);
}

fn bAt(column: BColumn, cursor: BCursor) -> f32 {
  return im2col(column, cursor);
}

fn storeC(g: u32, m: u32, n: u32, v: f32) {
  let p = layout.$.params;
  let co = g * p.groupOutChannels + m;
  var value = v;
  if (p.hasBias == 1u) { value += layout.$.bias[co]; }
  layout.$.y[nchwIndex(n, co, p.outChannels, p.outHeight * p.outWidth)] = value;
}

// A for the swapped window core (gemm.ts's windowOrientation): a row of A is a weight row, read in k
// order, so its column is the row's offset and its cursor k itself.
alias AColumn = u32;
alias ACursor = u32;

fn aColumn(g: u32, m: u32) -> AColumn {
  let p = layout.$.params;
  return (g * p.groupOutChannels + m) * p.K;
}

fn aCursor(g: u32, k: u32) -> ACursor {
  return k;
}

fn aNext(cursor: ACursor) -> ACursor {
  return cursor + 1u;
}

fn aAt(column: AColumn, cursor: ACursor) -> f32 {
  return layout.$.weight[column + cursor];
}
