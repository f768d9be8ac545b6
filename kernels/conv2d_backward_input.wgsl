// Gradient of conv2d with respect to its input, as an implicit GEMM per group g:
//   dx[ci, (n,y,x)] = sum over (co,r,s) of W[co, ci, r, s] * dy[n, co, oy, ox]
// M = Cin/groups, N = batch*H*W, K = Cout/groups*R*S. Computing it as a gather over dx (each
// output written once) rather than scattering dy through the kernel avoids atomics: input pixel
// (y, x) receives from tap (r, s) the output at oy = (y + pad - r*dilation) / stride, when that
// division is exact and lands inside dy, and nothing otherwise. With stride > 1 most of K is such
// zeros: dense strided convs take the columns path instead (conv2d_backward_columns.wgsl and
// conv2d_col2im.wgsl; kernels/conv2d.ts chooses), grouped ones stay here. A column of B is a pixel
// of dx, and k walks the taps.

fn loadA(g: u32, m: u32, k: u32) -> f32 {
  let p = layout.$.params;
  let rs = p.kernelHeight * p.kernelWidth;
  let co = k / rs;
  return layout.$.weight[((g * p.groupOutChannels + co) * p.groupInChannels + m) * rs + (k - co * rs)];
}

// A pixel of dx: its image's offset in dy and its padded position y + padH, x + padW.
struct DxPixel { image: u32, y: i32, x: i32 }
// A tap of group g: the offset of its output channel's plane in an image of dy, and r*dilation.
struct DyTap { g: u32, at: ConvTap, plane: u32, rowShift: i32, colShift: i32 }

alias BColumn = DxPixel;
alias BCursor = DyTap;

fn bColumn(g: u32, n: u32) -> BColumn {
  let p = layout.$.params;
  let q = convPixel(n, p.inHeight, p.inWidth);
  return DxPixel(q.n * p.outChannels * p.outHeight * p.outWidth, i32(q.y + p.padH), i32(q.x + p.padW));
}

fn dyTapAt(g: u32, t: ConvTap) -> DyTap {
  let p = layout.$.params;
  let plane = (g * p.groupOutChannels + t.c) * p.outHeight * p.outWidth;
  return DyTap(g, t, plane, i32(t.r * p.dilationH), i32(t.s * p.dilationW));
}

fn bCursor(g: u32, k: u32) -> BCursor {
  return dyTapAt(g, convTap(k));
}

fn bNext(cursor: BCursor) -> BCursor {
  return dyTapAt(cursor.g, nextConvTap(cursor.at));
}

// t / stride when the division is exact and lands in [0, size), else -1. Divides in f32, exact
// for |t| < 2^22: an integer division is a scalar loop over the lanes on CPU-emulated adapters.
fn convOutputPos(t: i32, stride: u32, size: u32) -> i32 {
  let o = i32(floor((f32(t) + 0.5) / f32(stride)));
  return select(-1i, o, t >= 0i && o * i32(stride) == t && o < i32(size));
}

fn bAt(column: BColumn, cursor: BCursor) -> f32 {
  let p = layout.$.params;
  let oy = convOutputPos(column.y - cursor.rowShift, p.strideH, p.outHeight);
  let ox = convOutputPos(column.x - cursor.colShift, p.strideW, p.outWidth);
  let inside = oy >= 0i && ox >= 0i;
  let index = column.image + cursor.plane + u32(oy) * p.outWidth + u32(ox);
  return select(0.0, layout.$.dy[select(0u, index, inside)], inside);
}

fn storeC(g: u32, m: u32, n: u32, v: f32) {
  let p = layout.$.params;
  layout.$.dx[nchwIndex(n, g * p.groupInChannels + m, p.inChannels, p.inHeight * p.inWidth)] = v;
}

// A for the swapped window core (gemm.ts's windowOrientation): row m = input channel ci of W
// transposed, k = (co, tap). The column is ci's offset within an output channel's weights; the
// cursor steps the tap and, past the last, moves to the next output channel's weights.
alias AColumn = u32;
struct ACursor { offset: u32, tap: u32 }

fn aColumn(g: u32, m: u32) -> AColumn {
  let p = layout.$.params;
  return (g * p.groupOutChannels * p.groupInChannels + m) * p.kernelHeight * p.kernelWidth;
}

fn aCursor(g: u32, k: u32) -> ACursor {
  let p = layout.$.params;
  let rs = p.kernelHeight * p.kernelWidth;
  let co = k / rs;
  let tap = k - co * rs;
  return ACursor(co * p.groupInChannels * rs + tap, tap);
}

fn aNext(cursor: ACursor) -> ACursor {
  let p = layout.$.params;
  let rs = p.kernelHeight * p.kernelWidth;
  let tap = cursor.tap + 1u;
  let end = tap == rs;
  // Past the last tap: on to the next output channel's weights for the same input channel.
  return ACursor(cursor.offset + 1u + select(0u, (p.groupInChannels - 1u) * rs, end), select(tap, 0u, end));
}

fn aAt(column: AColumn, cursor: ACursor) -> f32 {
  return layout.$.weight[column + cursor.offset];
}
