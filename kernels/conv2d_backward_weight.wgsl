// Gradient of conv2d with respect to its weights, as an implicit GEMM per group g:
//   dW[co, (ci,r,s)] = sum over (n,oy,ox) of dy[co, (n,oy,ox)] * im2col(x)[(n,oy,ox), (ci,r,s)]
// M = Cout/groups, N = Cin/groups*R*S, K = batch*Ho*Wo: the forward's B transposed, so the
// reduction runs over the batch and every output pixel, and C lands directly in the
// [Cout, Cin/groups, R, S] order: a column of B is a tap, and k walks the pixels.
// The result overwrites dweight (no accumulation).

fn loadA(g: u32, m: u32, k: u32) -> f32 {
  let p = layout.$.params;
  return layout.$.dy[nchwIndex(k, g * p.groupOutChannels + m, p.outChannels, p.outHeight * p.outWidth)];
}

alias BColumn = Im2colTap;
alias BCursor = Im2colPixel;

fn bColumn(g: u32, n: u32) -> BColumn {
  return im2colTap(g, n);
}

fn bCursor(g: u32, k: u32) -> BCursor {
  return im2colPixel(k);
}

fn bNext(cursor: BCursor) -> BCursor {
  return nextIm2colPixel(cursor);
}

fn bAt(column: BColumn, cursor: BCursor) -> f32 {
  return im2col(cursor, column);
}

fn storeC(g: u32, m: u32, n: u32, v: f32) {
  let p = layout.$.params;
  layout.$.dweight[(g * p.groupOutChannels + m) * p.N + n] = v;
}
