// Gradient of conv2d with respect to its input, second half of the columns path
// (conv2d_backward_columns.wgsl made dcol): dx[n, c, y, x] is the sum of dcol[(c,r,s), (n,oy,ox)]
// over the taps (r, s) that reach it, those where oy = (y + padH - r*dilationH) / strideH is exact
// and inside dy, and likewise ox. One invocation per dx value of the images from params.image0 on,
// so no atomics. Along an axis the taps that reach a position recur every `period` =
// stride / gcd(stride, dilation) kernel rows, `outStep` = dilation / gcd output rows apart: the
// first is found in at most `period` tries and the others stepped to, so no tap that misses is
// read.

struct TapRun { first: u32, out: i32 }

// The first tap along an axis whose output position (t - tap*dilation) / stride is exact, with that
// position (maybe outside dy); `taps` when none is. Divides in f32, exact for |t| < 2^22: an integer
// division is a scalar loop over the lanes on CPU-emulated adapters.
fn firstTap(t: i32, stride: u32, dilation: u32, period: u32, taps: u32) -> TapRun {
  for (var r = 0u; r < min(period, taps); r++) {
    let u = t - i32(r * dilation);
    let o = i32(floor((f32(u) + 0.5) / f32(stride)));
    if (o * i32(stride) == u) { return TapRun(r, o); }
  }
  return TapRun(taps, 0i);
}

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let p = layout.$.params;
  let q = layout.$.taps;
  let e = gid.x + gid.y * nwg.x * 256u;
  let hw = p.inHeight * p.inWidth;
  if (e >= q.images * p.inChannels * hw) { return; }
  let plane = e / hw;
  let pixel = e - plane * hw;
  let y = pixel / p.inWidth;
  let x = pixel - y * p.inWidth;
  let n = plane / p.inChannels;
  let c = plane - n * p.inChannels;
  let rows = firstTap(i32(y + p.padH), p.strideH, p.dilationH, q.periodH, p.kernelHeight);
  let cols = firstTap(i32(x + p.padW), p.strideW, p.dilationW, q.periodW, p.kernelWidth);
  // dcol's row of tap (c, 0, 0) and column of pixel (n, 0, 0).
  let base = c * p.kernelHeight * p.kernelWidth * p.N + n * p.outHeight * p.outWidth;
  var sum = 0.0;
  var oy = rows.out;
  for (var r = rows.first; r < p.kernelHeight; r += q.periodH) {
    if (oy >= 0i && oy < i32(p.outHeight)) {
      let row = base + r * p.kernelWidth * p.N + u32(oy) * p.outWidth;
      var ox = cols.out;
      for (var s = cols.first; s < p.kernelWidth; s += q.periodW) {
        if (ox >= 0i && ox < i32(p.outWidth)) { sum += layout.$.dcol[row + s * p.N + u32(ox)]; }
        ox -= i32(q.outStepW);
      }
    }
    oy -= i32(q.outStepH);
  }
  layout.$.dx[p.image0 * p.inChannels * hw + e] = sum;
}
