// 2-D pooling over NCHW planes: max (OP 0) and average (OP 1), forward and backward, one pipeline
// per op (OP, set by the host). Global average pooling is average pooling with the window set to
// the whole plane.
//
// Work split: one invocation per element written, 256 per workgroup, workgroups spread over x and
// y (flat index gid.x + gid.y * nwg.x * 256, as in elementwise.wgsl). `forward` owns one output
// element and scans the taps of its window that fall inside the input. `backward` owns one input
// element and gathers over the windows with a tap on it (at most one tap per window): for max, the
// dy of each window whose argmax is this element; for average, each window's dy over its divisor.
// Gathering writes every dx once: deterministic, no atomics.
//
// Output oh's window has taps r = 0..KH-1 at input rows oh*SH - PH + r*DH (PH pads the top, PB the
// bottom; likewise PW, PR and DW for columns). The host sizes the output (ceil mode included) and
// guarantees each padding < the dilated kernel, so a window holds at least one input element unless
// dilation skips over all of them; padding never takes part in a max and, unless countIncludePad,
// not in an average's divisor either (with it, the divisor counts the taps inside the padded input).

const WG: u32 = 256u;
const MAX: u32 = 0u;
const OP: u32 = 0u;
// 1 when either axis dilates (set per pipeline by the host). Undilated windows (every pooling layer
// of the torchvision classifiers) then skip the divisions by the dilation: integer division runs
// lane by lane on CPU adapters, and it dominated the backward.
const DILATED: u32 = 0u;
// The argmax of a window with no input element: matches no input.
const NO_INPUT: u32 = 0xffffffffu;

// (plane, row, column) of flat element i of planes height x width, in two divisions.
fn position(i: u32, height: u32, width: u32) -> vec3u {
  let plane = i / (width * height);
  let inPlane = i - plane * width * height;
  let row = inPlane / width;
  return vec3u(plane, row, inPlane - row * width);
}

// ceil(a / b) for b > 0, in one division (WGSL's division truncates towards zero, which is the
// ceiling for a <= 0).
fn ceilDiv(a: i32, b: i32) -> i32 {
  return select(a, a + b - 1, a > 0) / b;
}

// ceil(a / dilation): a itself for undilated windows.
fn ceilDivDilation(a: i32, dilation: u32) -> i32 {
  if (DILATED == 0u) { return a; }
  return ceilDiv(a, i32(dilation));
}

// Taps [x, y) of the window starting at `start` (dilation `dilation`, `kernel` taps) that land in
// [lo, hi).
fn tapSpan(start: i32, lo: i32, hi: i32, kernel: u32, dilation: u32) -> vec2u {
  let first = max(ceilDivDilation(lo - start, dilation), 0);
  let end = clamp(ceilDivDilation(hi - start, dilation), first, i32(kernel));
  return vec2u(u32(first), u32(end));
}

fn windowStart(o: u32, stride: u32, pad: u32) -> i32 {
  return i32(o * stride) - i32(pad);
}

// Taps of output o's window along one axis that an average divides by: those inside the input
// [0, size), or inside the padded input with countIncludePad.
fn divisorTaps(o: u32, stride: u32, pad: u32, padEnd: u32, size: u32, kernel: u32, dilation: u32) -> u32 {
  let start = windowStart(o, stride, pad);
  var taps = tapSpan(start, 0, i32(size), kernel, dilation);
  if (layout.$.params.countIncludePad == 1u) {
    taps = tapSpan(start, -i32(pad), i32(size + padEnd), kernel, dilation);
  }
  return taps.y - taps.x;
}

// What an average over output (oh, ow)'s window divides by, from its taps along rows (rowTaps).
fn divisor(rowTaps: u32, ow: u32) -> f32 {
  let p = layout.$.params;
  return f32(max(rowTaps * divisorTaps(ow, p.SW, p.PW, p.PR, p.W, p.KW, p.DW), 1u));
}

// The taps along rows of output row oh's windows that an average divides by.
fn rowDivisorTaps(oh: u32) -> u32 {
  let p = layout.$.params;
  return divisorTaps(oh, p.SH, p.PH, p.PB, p.H, p.KH, p.DH);
}

@compute @workgroup_size(WG)
fn forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let p = layout.$.params;
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.count) { return; }
  let o = position(i, p.OH, p.OW);
  let sh = windowStart(o.y, p.SH, p.PH);
  let sw = windowStart(o.z, p.SW, p.PW);
  let rows = tapSpan(sh, 0, i32(p.H), p.KH, p.DH);
  let cols = tapSpan(sw, 0, i32(p.W), p.KW, p.DW);
  let base = o.x * p.H * p.W;
  // Window rows tapStart .. tapEnd - 1 only: a window too large for one dispatch's loops under
  // llvmpipe's limit (loop_limit.ts) takes several, each continuing from what the last wrote.
  let more = p.tapStart > 0u;
  var arg = NO_INPUT;
  var best = 0.0;
  var sum = 0.0;
  if (OP == MAX && more) {
    best = layout.$.dst[i];
    arg = layout.$.argmax[i];
  }
  for (var r = max(rows.x, p.tapStart); r < min(rows.y, p.tapEnd); r++) {
    let ih = u32(sh + i32(r * p.DH));
    for (var s = cols.x; s < cols.y; s++) {
      let k = base + ih * p.W + u32(sw + i32(s * p.DW));
      let v = layout.$.src[k];
      sum += v;
      if (arg == NO_INPUT || v > best) {
        best = v;
        arg = k;
      }
    }
  }
  if (OP == MAX) {
    layout.$.dst[i] = best;
    layout.$.argmax[i] = arg;
  } else {
    var mean = sum / divisor(rowDivisorTaps(o.y), o.z);
    if (more) { mean += layout.$.dst[i]; }
    layout.$.dst[i] = mean;
  }
}

// Along one axis: the outputs [x, y) whose window reaches input coordinate i, at most
// ceil(span / stride) of them: output o's window spans padded coordinates o * stride + [0, reach].
fn coveringOutputs(i: u32, pad: u32, stride: u32, kernel: u32, dilation: u32, outSize: u32) -> vec2u {
  let q = i32(i + pad);
  let first = max(ceilDiv(q - i32((kernel - 1u) * dilation), i32(stride)), 0);
  let end = min(q / i32(stride) + 1, i32(outSize));
  return vec2u(u32(first), u32(max(end, first)));
}

// Whether a tap of output o's window (one of coveringOutputs) lands on input coordinate i: a
// dilated window skips the coordinates between its taps.
fn onTap(i: u32, o: u32, pad: u32, stride: u32, dilation: u32) -> bool {
  if (DILATED == 0u) { return true; }
  return (i + pad - o * stride) % dilation == 0u;
}

@compute @workgroup_size(WG)
fn backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let p = layout.$.params;
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.count) { return; }
  let x = position(i, p.H, p.W);
  let base = x.x * p.OH * p.OW;
  // Only the windows that reach x are visited (one for a global pool), not every tap of a window:
  // integer division runs lane by lane on CPU adapters, so per-tap index arithmetic dominated.
  let rows = coveringOutputs(x.y, p.PH, p.SH, p.KH, p.DH, p.OH);
  let cols = coveringOutputs(x.z, p.PW, p.SW, p.KW, p.DW, p.OW);
  var sum = 0.0;
  for (var oh = rows.x; oh < rows.y; oh++) {
    if (!onTap(x.y, oh, p.PH, p.SH, p.DH)) { continue; }
    var rowTaps = 0u;
    if (OP != MAX) { rowTaps = rowDivisorTaps(oh); }
    for (var ow = cols.x; ow < cols.y; ow++) {
      if (!onTap(x.z, ow, p.PW, p.SW, p.DW)) { continue; }
      let o = base + oh * p.OW + ow;
      if (OP == MAX) {
        if (layout.$.argmax[o] == i) { sum += layout.$.src[o]; }
      } else {
        sum += layout.$.src[o] / divisor(rowTaps, ow);
      }
    }
  }
  layout.$.dst[i] = sum;
}
