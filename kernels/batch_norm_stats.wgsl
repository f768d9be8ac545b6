// Batch statistics of batch norm in training mode, one workgroup of 256 invocations per channel
// (linear workgroup index = channel). Two passes over the channel's N * HW values, each a strided
// partial sum plus a tree reduction in workgroup memory: first the mean, then the mean of
// (x - mean)^2. Two passes rather than E[x^2] - E[x]^2, which cancels badly when |mean| >> std.
// Writes the batch mean and (biased) variance, and moves the running statistics toward them:
// running = (1 - momentum) * running + momentum * batch, with the unbiased variance.

const WG: u32 = 256u;

var<workgroup> partial: array<f32, WG>;

fn channelSum(c: u32, t: u32, center: f32, squared: bool) -> f32 {
  let p = layout.$.params;
  let total = p.N * p.HW;
  var acc = 0.0;
  for (var j = t; j < total; j += WG) {
    let v = layout.$.x[((j / p.HW) * p.C + c) * p.HW + j % p.HW] - center;
    if (squared) { acc += v * v; } else { acc += v; }
  }
  partial[t] = acc;
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    workgroupBarrier();
    if (t < stride) { partial[t] += partial[t + stride]; }
  }
  workgroupBarrier();
  let sum = partial[0];
  workgroupBarrier(); // everyone has read partial[0] before it is reused
  return sum;
}

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
) {
  let p = layout.$.params;
  let c = wid.x + wid.y * nwg.x;
  if (c >= p.C) { return; } // uniform across the workgroup, so barriers stay uniform
  let count = f32(p.N * p.HW);
  // Locals must not share a name with a binding: the resolved WGSL declares bindings by name.
  let batchMean = channelSum(c, lid.x, 0.0, false) / count;
  let batchVariance = channelSum(c, lid.x, batchMean, true) / count;
  if (lid.x == 0u) {
    layout.$.mean[c] = batchMean;
    layout.$.variance[c] = batchVariance;
    let unbiased = batchVariance * count / max(count - 1.0, 1.0);
    let m = p.momentum;
    layout.$.runningMean[c] = (1.0 - m) * layout.$.runningMean[c] + m * batchMean;
    layout.$.runningVariance[c] = (1.0 - m) * layout.$.runningVariance[c] + m * unbiased;
  }
}
