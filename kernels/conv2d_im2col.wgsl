// The im2col matrix of x, gathered on the fly instead of stored (it is R*S times larger than x):
// for output pixel (n, oy, ox) and tap (c, r, s) of group g, x at row oy*strideH + r*dilationH - padH
// and column ox*strideW + s*dilationW - padW of channel g*groupIn + c, 0 in the padding. Its NCHW
// index is a pixel part plus a tap part,
//   n*C*H*W + (oy*strideH - padH)*W + (ox*strideW - padW)  +  (g*groupIn + c)*H*W + r*dilationH*W + s*dilationW,
// so each side is set up once (Im2colPixel, Im2colTap) and stepped along k: the forward steps taps
// for fixed pixels (B over ((c,r,s), pixel)), the weight gradient pixels for fixed taps (B over
// (pixel, (c,r,s))). Input positions are i32: with padding they go negative.

struct Im2colPixel { at: ConvPixel, iy: i32, ix: i32, offset: i32 }
struct Im2colTap { g: u32, at: ConvTap, rowShift: i32, colShift: i32, offset: i32 }

fn im2colPixelAt(q: ConvPixel) -> Im2colPixel {
  let p = layout.$.params;
  let iy = i32(q.y * p.strideH) - i32(p.padH);
  let ix = i32(q.x * p.strideW) - i32(p.padW);
  let image = i32(q.n * p.inChannels * p.inHeight * p.inWidth);
  return Im2colPixel(q, iy, ix, image + iy * i32(p.inWidth) + ix);
}

fn im2colPixel(i: u32) -> Im2colPixel {
  let p = layout.$.params;
  return im2colPixelAt(convPixel(i, p.outHeight, p.outWidth));
}

fn nextIm2colPixel(q: Im2colPixel) -> Im2colPixel {
  let p = layout.$.params;
  return im2colPixelAt(nextConvPixel(q.at, p.outHeight, p.outWidth));
}

fn im2colTapAt(g: u32, t: ConvTap) -> Im2colTap {
  let p = layout.$.params;
  let rowShift = i32(t.r * p.dilationH);
  let colShift = i32(t.s * p.dilationW);
  let channel = i32((g * p.groupInChannels + t.c) * p.inHeight * p.inWidth);
  return Im2colTap(g, t, rowShift, colShift, channel + rowShift * i32(p.inWidth) + colShift);
}

fn im2colTap(g: u32, k: u32) -> Im2colTap {
  return im2colTapAt(g, convTap(k));
}

fn nextIm2colTap(t: Im2colTap) -> Im2colTap {
  return im2colTapAt(t.g, nextConvTap(t.at));
}

fn im2col(pix: Im2colPixel, tap: Im2colTap) -> f32 {
  let p = layout.$.params;
  let inside = u32(pix.iy + tap.rowShift) < p.inHeight && u32(pix.ix + tap.colShift) < p.inWidth; // negatives wrap high
  return select(0.0, layout.$.x[u32(select(0i, pix.offset + tap.offset, inside))], inside);
}
