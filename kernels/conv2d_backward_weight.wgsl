// Gradient of conv2d with respect to its weights, as an implicit GEMM per group g (grid z):
//   dW[co, (ci,r,s)] = sum over (n,oy,ox) of dy[co, (n,oy,ox)] * im2col(x)[(n,oy,ox), (ci,r,s)]
// M = Cout/groups, N = Cin/groups*R*S, K = batch*Ho*Wo: the forward's B transposed, so the
// reduction runs over the batch and every output pixel, and C lands directly in the
// [Cout, Cin/groups, R, S] order. The result overwrites dweight (no accumulation).

fn loadA(g: u32, m: u32, k: u32) -> f32 {
  let p = layout.$.params;
  return layout.$.dy[nchwIndex(k, g * p.groupOutChannels + m, p.outChannels, p.outHeight * p.outWidth)];
}

fn loadB(g: u32, k: u32, n: u32) -> f32 {
  let p = layout.$.params;
  return im2col(g, convTap(n), convPixel(k, p.outHeight, p.outWidth));
}

fn storeC(g: u32, m: u32, n: u32, v: f32) {
  let p = layout.$.params;
  layout.$.dweight[(g * p.groupOutChannels + m) * p.N + n] = v;
}
