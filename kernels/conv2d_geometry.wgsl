// Index decoding shared by the three conv2d GEMMs. Each GEMM index runs either over taps
// (channel within the group, kernel row, kernel column), the order of a weight row, or over pixels
// (image, row, column), the order of an NCHW channel plane with the batch folded in. Folding the
// batch into a GEMM dimension keeps that dimension long even for small images, so tiles fill up.
// Input positions are i32: with padding they go negative near the border.

struct ConvTap { c: u32, r: u32, s: u32 }
struct ConvPixel { n: u32, y: u32, x: u32 }

fn convTap(k: u32) -> ConvTap {
  let p = layout.$.params;
  let rs = p.kernelHeight * p.kernelWidth;
  let c = k / rs;
  let t = k - c * rs;
  return ConvTap(c, t / p.kernelWidth, t % p.kernelWidth);
}

fn convPixel(i: u32, height: u32, width: u32) -> ConvPixel {
  let hw = height * width;
  let n = i / hw;
  let t = i - n * hw;
  return ConvPixel(n, t / width, t % width);
}

// NCHW offset of channel c at pixel index i (over image, row, column) of planes of hw values.
fn nchwIndex(i: u32, c: u32, channels: u32, hw: u32) -> u32 {
  let n = i / hw;
  return (n * channels + c) * hw + (i - n * hw);
}

// Input row (or column) that output row `o` reads through kernel row `r`; may lie in the padding.
fn convInputPos(o: u32, r: u32, stride: u32, pad: u32, dilation: u32) -> i32 {
  return i32(o * stride + r * dilation) - i32(pad);
}
