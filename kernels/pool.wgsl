// 2-D pooling over NCHW planes: max (OP 0) and average (OP 1), forward and backward, one pipeline
// per op (OP, set by the host). Global average pooling is average pooling with the window set to
// the whole plane.
//
// Work split: one invocation per element written, 256 per workgroup, workgroups spread over x and
// y (flat index gid.x + gid.y * nwg.x * 256, as in elementwise.wgsl). `forward` owns one output
// element and scans the taps of its window that fall inside the input. `backward` owns one input
// element and gathers over the taps that land on it (at most one per output window): for max, the
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
// The argmax of a window with no input element: matches no input.
const NO_INPUT: u32 = 0xffffffffu;

// (plane, row, column) of flat element i of planes height x width.
fn position(i: u32, height: u32, width: u32) -> vec3u {
  return vec3u(i / (width * height), (i / width) % height, i % width);
}

// ceil(a / b) for b > 0 (WGSL's division truncates towards zero).
fn ceilDiv(a: i32, b: i32) -> i32 {
  return select(-((-a) / b), (a + b - 1) / b, a > 0);
}

// Taps [x, y) of the window starting at `start` (dilation `dilation`, `kernel` taps) that land in
// [lo, hi).
fn tapSpan(start: i32, lo: i32, hi: i32, kernel: u32, dilation: u32) -> vec2u {
  let d = i32(dilation);
  let first = max(ceilDiv(lo - start, d), 0);
  let end = clamp(ceilDiv(hi - start, d), first, i32(kernel));
  return vec2u(u32(first), u32(end));
}

fn windowStart(o: u32, stride: u32, pad: u32) -> i32 {
  return i32(o * stride) - i32(pad);
}

// What an average over output (oh, ow)'s window divides by.
fn divisor(oh: u32, ow: u32) -> f32 {
  let p = layout.$.params;
  let sh = windowStart(oh, p.SH, p.PH);
  let sw = windowStart(ow, p.SW, p.PW);
  var rows = tapSpan(sh, 0, i32(p.H), p.KH, p.DH);
  var cols = tapSpan(sw, 0, i32(p.W), p.KW, p.DW);
  if (p.countIncludePad == 1u) {
    rows = tapSpan(sh, -i32(p.PH), i32(p.H + p.PB), p.KH, p.DH);
    cols = tapSpan(sw, -i32(p.PW), i32(p.W + p.PR), p.KW, p.DW);
  }
  return f32(max((rows.y - rows.x) * (cols.y - cols.x), 1u));
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
  var arg = NO_INPUT;
  var best = 0.0;
  var sum = 0.0;
  for (var r = rows.x; r < rows.y; r++) {
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
    layout.$.dst[i] = sum / divisor(o.y, o.z);
  }
}

// Along one axis: the output whose tap `tap` lands on input
// coordinate i, or outSize when none does.
fn tapOutput(i: u32, tap: u32, pad: u32, stride: u32, dilation: u32, outSize: u32) -> u32 {
  let q = i32(i + pad) - i32(tap * dilation); // the window start times stride, padded coordinates
  if (q < 0 || u32(q) % stride != 0u) { return outSize; }
  return min(u32(q) / stride, outSize);
}

@compute @workgroup_size(WG)
fn backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let p = layout.$.params;
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.count) { return; }
  let x = position(i, p.H, p.W);
  let base = x.x * p.OH * p.OW;
  var sum = 0.0;
  for (var r = 0u; r < p.KH; r++) {
    let oh = tapOutput(x.y, r, p.PH, p.SH, p.DH, p.OH);
    if (oh == p.OH) { continue; }
    for (var s = 0u; s < p.KW; s++) {
      let ow = tapOutput(x.z, s, p.PW, p.SW, p.DW, p.OW);
      if (ow == p.OW) { continue; }
      let o = base + oh * p.OW + ow;
      if (OP == MAX) {
        if (layout.$.argmax[o] == i) { sum += layout.$.src[o]; }
      } else {
        sum += layout.$.src[o] / divisor(oh, ow);
      }
    }
  }
  layout.$.dst[i] = sum;
}
