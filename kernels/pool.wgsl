// 2-D pooling over NCHW planes: max (OP 0) and average (OP 1), forward and backward, one pipeline
// per op (OP, set by the host). Global average pooling is average pooling with the window set to
// the whole plane.
//
// Work split: one invocation per element written, 256 per workgroup, workgroups spread over x and
// y (flat index gid.x + gid.y * nwg.x * 256, as in elementwise.wgsl). `forward` owns one output
// element and scans its window. `backward` owns one input element and gathers over the output
// windows that cover it: for max, the dy of each window whose argmax is this element; for average,
// each window's dy over its divisor. Gathering writes every dx once: deterministic, no atomics.
// The host guarantees padding < kernel, so every window holds at least one input element, and
// padding never takes part in a max or (unless countIncludePad) in an average's divisor.

const WG: u32 = 256u;
const MAX: u32 = 0u;
const OP: u32 = 0u;

// (plane, row, column) of flat element i of planes height x width.
fn position(i: u32, height: u32, width: u32) -> vec3u {
  return vec3u(i / (width * height), (i / width) % height, i % width);
}

// Input rows (or columns) [x, y) of output o's window that lie inside the input.
fn windowSpan(o: u32, pad: u32, kernel: u32, stride: u32, size: u32) -> vec2u {
  let start = i32(o * stride) - i32(pad);
  return vec2u(u32(max(start, 0)), u32(min(start + i32(kernel), i32(size))));
}

// Outputs [x, y) along one axis whose windows cover input coordinate i.
fn coveringOutputs(i: u32, pad: u32, kernel: u32, stride: u32, outSize: u32) -> vec2u {
  let q = i + pad; // coordinate in the padded input
  var first = 0u;
  if (q >= kernel) { first = (q - kernel) / stride + 1u; }
  return vec2u(first, min(outSize, q / stride + 1u));
}

// What an average over output (oh, ow)'s window divides by.
fn divisor(oh: u32, ow: u32) -> f32 {
  let p = layout.$.params;
  if (p.countIncludePad == 1u) { return f32(p.KH * p.KW); }
  let rows = windowSpan(oh, p.PH, p.KH, p.SH, p.H);
  let cols = windowSpan(ow, p.PW, p.KW, p.SW, p.W);
  return f32((rows.y - rows.x) * (cols.y - cols.x));
}

@compute @workgroup_size(WG)
fn forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let p = layout.$.params;
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.count) { return; }
  let o = position(i, p.OH, p.OW);
  let rows = windowSpan(o.y, p.PH, p.KH, p.SH, p.H);
  let cols = windowSpan(o.z, p.PW, p.KW, p.SW, p.W);
  let base = o.x * p.H * p.W;
  var arg = base + rows.x * p.W + cols.x;
  var best = layout.$.src[arg];
  var sum = 0.0;
  for (var ih = rows.x; ih < rows.y; ih++) {
    for (var iw = cols.x; iw < cols.y; iw++) {
      let k = base + ih * p.W + iw;
      let v = layout.$.src[k];
      sum += v;
      if (v > best) {
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

@compute @workgroup_size(WG)
fn backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let p = layout.$.params;
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.count) { return; }
  let x = position(i, p.H, p.W);
  let rows = coveringOutputs(x.y, p.PH, p.KH, p.SH, p.OH);
  let cols = coveringOutputs(x.z, p.PW, p.KW, p.SW, p.OW);
  let base = x.x * p.OH * p.OW;
  var sum = 0.0;
  for (var oh = rows.x; oh < rows.y; oh++) {
    for (var ow = cols.x; ow < cols.y; ow++) {
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
