// conv2d forward as an implicit GEMM, per group g (grid z):
//   y[(n,oy,ox), co] = sum over (ci,r,s) of W[co, (ci,r,s)] * im2col(x)[(ci,r,s), (n,oy,ox)]
// M = Cout/groups, N = batch*Ho*Wo, K = Cin/groups*R*S. The PyTorch weight order
// [Cout, Cin/groups, R, S] already is A row-major, so A is a plain read and only B gathers.
// The bias is added in the store so the layer needs no second pass over y.

fn loadA(g: u32, m: u32, k: u32) -> f32 {
  let p = layout.$.params;
  return layout.$.weight[(g * p.groupOutChannels + m) * p.K + k];
}

fn loadB(g: u32, k: u32, n: u32) -> f32 {
  let p = layout.$.params;
  return im2col(g, convTap(k), convPixel(n, p.outHeight, p.outWidth));
}

fn storeC(g: u32, m: u32, n: u32, v: f32) {
  let p = layout.$.params;
  let co = g * p.groupOutChannels + m;
  var value = v;
  if (p.hasBias == 1u) { value += layout.$.bias[co]; }
  layout.$.y[nchwIndex(n, co, p.outChannels, p.outHeight * p.outWidth)] = value;
}
