// Index decoding shared by the three conv2d GEMMs. Each GEMM index runs either over taps
// (channel within the group, kernel row, kernel column), the order of a weight row, or over pixels
// (image, row, column), the order of an NCHW channel plane with the batch folded in. Folding the
// batch into a GEMM dimension keeps that dimension long even for small images, so tiles fill up.
// The divisions here run once per column or per window; the k loops step instead (nextTap...).

struct ConvTap { c: u32, r: u32, s: u32 }
struct ConvPixel { n: u32, y: u32, x: u32 }

fn convTap(k: u32) -> ConvTap {
  let p = layout.$.params;
  let rs = p.kernelHeight * p.kernelWidth;
  let c = k / rs;
  let t = k - c * rs;
  return ConvTap(c, t / p.kernelWidth, t % p.kernelWidth);
}

// The tap after `t` in weight-row order.
fn nextConvTap(t: ConvTap) -> ConvTap {
  let p = layout.$.params;
  let s = t.s + 1u;
  let endS = s == p.kernelWidth;
  let r = t.r + u32(endS);
  let endR = r == p.kernelHeight;
  return ConvTap(t.c + u32(endR), select(r, 0u, endR), select(s, 0u, endS));
}

fn convPixel(i: u32, height: u32, width: u32) -> ConvPixel {
  let hw = height * width;
  let n = i / hw;
  let t = i - n * hw;
  return ConvPixel(n, t / width, t % width);
}

// The pixel after `q` in NCHW plane order, the batch folded in.
fn nextConvPixel(q: ConvPixel, height: u32, width: u32) -> ConvPixel {
  let x = q.x + 1u;
  let endX = x == width;
  let y = q.y + u32(endX);
  let endY = y == height;
  return ConvPixel(q.n + u32(endY), select(y, 0u, endY), select(x, 0u, endX));
}

// NCHW offset of channel c at pixel index i (over image, row, column) of planes of hw values.
fn nchwIndex(i: u32, c: u32, channels: u32, hw: u32) -> u32 {
  let n = i / hw;
  return (n * channels + c) * hw + (i - n * hw);
}
