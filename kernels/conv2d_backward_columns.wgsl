// Gradient of conv2d with respect to its input, first half of the columns path: a dense GEMM per
// group g into a columns matrix, the transpose of im2col,
//   dcol[(ci,r,s), (n,oy,ox)] = sum over co of W[co, ci, r, s] * dy[n, co, oy, ox]
// M = Cin/groups*R*S, N = images*Ho*Wo (the images from params.image0 on), K = Cout/groups.
// Every product is a real one, where the implicit GEMM (conv2d_backward_input.wgsl) spends most of
// its K on taps that reach no output once stride > 1; col2im (conv2d_col2im.wgsl) then sums each
// dx value's taps. dcol's row (ci,r,s) of group g is row (g*groupIn + ci)*R*S + r*S + s: A's rows
// are the weights' [Cin/groups, R, S] order. A column of B is an output pixel, and k walks the
// output channels: one plane of dy further per step.

fn loadA(g: u32, m: u32, k: u32) -> f32 {
  let p = layout.$.params;
  return layout.$.weight[(g * p.groupOutChannels + k) * p.M + m];
}

// A column: the offset in dy of its output pixel in the group's first output channel.
alias BColumn = u32;
// k's output channel: its plane's offset from the group's first.
alias BCursor = u32;

fn outPlane() -> u32 {
  let p = layout.$.params;
  return p.outHeight * p.outWidth;
}

fn bColumn(g: u32, n: u32) -> BColumn {
  let p = layout.$.params;
  let hw = outPlane();
  let image = n / hw;
  return ((p.image0 + image) * p.outChannels + g * p.groupOutChannels) * hw + (n - image * hw);
}

fn bCursor(g: u32, k: u32) -> BCursor {
  return k * outPlane();
}

fn bNext(cursor: BCursor) -> BCursor {
  return cursor + outPlane();
}

fn bAt(column: BColumn, cursor: BCursor) -> f32 {
  return layout.$.dy[column + cursor];
}

fn storeC(g: u32, m: u32, n: u32, v: f32) {
  let p = layout.$.params;
  layout.$.dcol[(g * p.M + m) * p.N + n] = v;
}

// A for the swapped window core (gemm.ts's windowOrientation): row m = (ci,r,s) of the weights
// across output channels, so its column is m's offset and the cursor steps one output channel's
// weights (M values) per k.
alias AColumn = u32;
alias ACursor = u32;

fn aColumn(g: u32, m: u32) -> AColumn {
  let p = layout.$.params;
  return g * p.groupOutChannels * p.M + m;
}

fn aCursor(g: u32, k: u32) -> ACursor {
  return k * layout.$.params.M;
}

fn aNext(cursor: ACursor) -> ACursor {
  return cursor + layout.$.params.M;
}

fn aAt(column: AColumn, cursor: ACursor) -> f32 {
  return layout.$.weight[column + cursor];
}
