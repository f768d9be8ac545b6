// Gradient of conv2d with respect to its input, as an implicit GEMM per group g (grid z):
//   dx[ci, (n,y,x)] = sum over (co,r,s) of W[co, ci, r, s] * dy[n, co, oy, ox]
// M = Cin/groups, N = batch*H*W, K = Cout/groups*R*S. Computing it as a gather over dx (each
// output written once) rather than scattering dy through the kernel avoids atomics: input pixel
// (y, x) receives from tap (r, s) the output at oy = (y + pad - r*dilation) / stride, when that
// division is exact and lands inside dy, and nothing otherwise. With stride > 1 most of K is such
// zeros; that is the price of keeping one GEMM for every stride.

fn loadA(g: u32, m: u32, k: u32) -> f32 {
  let p = layout.$.params;
  let rs = p.kernelHeight * p.kernelWidth;
  let co = k / rs;
  return layout.$.weight[((g * p.groupOutChannels + co) * p.groupInChannels + m) * rs + (k - co * rs)];
}

// Output row whose kernel row r reads input row i, or -1 when there is none.
fn convOutputPos(i: u32, r: u32, stride: u32, pad: u32, dilation: u32, size: u32) -> i32 {
  let t = i32(i + pad) - i32(r * dilation);
  if (t < 0 || t % i32(stride) != 0) { return -1; }
  let o = t / i32(stride);
  if (o >= i32(size)) { return -1; }
  return o;
}

fn loadB(g: u32, k: u32, n: u32) -> f32 {
  let p = layout.$.params;
  let tap = convTap(k);
  let pix = convPixel(n, p.inHeight, p.inWidth);
  let oy = convOutputPos(pix.y, tap.r, p.strideH, p.padH, p.dilationH, p.outHeight);
  let ox = convOutputPos(pix.x, tap.s, p.strideW, p.padW, p.dilationW, p.outWidth);
  if (oy < 0 || ox < 0) { return 0.0; }
  let co = g * p.groupOutChannels + tap.c;
  return layout.$.dy[((pix.n * p.outChannels + co) * p.outHeight + u32(oy)) * p.outWidth + u32(ox)];
}

fn storeC(g: u32, m: u32, n: u32, v: f32) {
  let p = layout.$.params;
  layout.$.dx[nchwIndex(n, g * p.groupInChannels + m, p.inChannels, p.inHeight * p.inWidth)] = v;
}
