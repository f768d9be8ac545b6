// The im2col matrix of x, gathered on the fly instead of stored (it is R*S times larger than x):
// the value of x that tap `tap` reads for output pixel `pix` in group g, 0 in the padding.
// The forward uses it as B over ((ci,r,s), pixel); the weight gradient as B over (pixel, (ci,r,s)).

fn im2col(g: u32, tap: ConvTap, pix: ConvPixel) -> f32 {
  let p = layout.$.params;
  let iy = convInputPos(pix.y, tap.r, p.strideH, p.padH, p.dilationH);
  let ix = convInputPos(pix.x, tap.s, p.strideW, p.padW, p.dilationW);
  if (iy < 0 || ix < 0 || iy >= i32(p.inHeight) || ix >= i32(p.inWidth)) { return 0.0; }
  let c = g * p.groupInChannels + tap.c;
  return layout.$.x[((pix.n * p.inChannels + c) * p.inHeight + u32(iy)) * p.inWidth + u32(ix)];
}
