// Per-channel sums of an NCHW tensor over the batch and spatial dims:
//   out[c] = sum over n, s of (a[n, c, s] - center[c]) * b[n, c, s]
// where center is 0 when absent (hasCenter = 0) and b is 1 when absent (hasB = 0). Plain sums give
// conv/dense bias gradients and d beta; with b = dy and center = mean they give d gamma of batch
// norm up to the per-channel factor 1 / sqrt(var + eps).
//
// Work split: one workgroup of 256 invocations per channel (linear workgroup index
// wid.x + wid.y * nwg.x = channel). Invocation t sums elements t, t + 256, ... of the channel's
// N * HW values, flattened so that a dense [B, C] tensor (HW = 1) still spreads over all
// invocations; then workgroupReduce (workgroup_reduce.wgsl) adds the 256 partial sums.

const WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) t: u32) {
  let p = layout.$.params;
  let c = wid.x + wid.y * nwg.x;
  if (c >= p.C) { return; } // the same for the whole workgroup, so the reduction stays uniform
  var shift = 0.0;
  if (p.hasCenter == 1u) { shift = layout.$.center[c]; }
  var acc = 0.0;
  for (var j = t; j < p.N * p.HW; j += WG) {
    let idx = ((j / p.HW) * p.C + c) * p.HW + j % p.HW;
    var v = layout.$.a[idx] - shift;
    if (p.hasB == 1u) { v *= layout.$.b[idx]; }
    acc += v;
  }
  let total = workgroupReduce(t, acc, false);
  if (t == 0u) { layout.$.out[c] = total; }
}
