// Batch normalisation in inference form, per channel c of an NCHW tensor, one pipeline per op
// (OP, set by the host):
//   0 forward:        out = (x - mean[c]) / sqrt(variance[c] + eps) * gamma[c] + beta[c]
//   1 input backward: out = x * gamma[c] / sqrt(variance[c] + eps)          (x = dy)
//   2 rescale:        out = out / sqrt(variance[c] + eps), in place          (d gamma's last step)
// The channel of flat element i is (i / HW) % C (the host passes HW = 1 for op 2, on a [C] array).
//
// Work split: one invocation per element, 256 per workgroup, workgroups spread over x and y
// (element index gid.x + gid.y * nwg.x * 256, as in elementwise.wgsl); invocations past `count`
// return.

const WG: u32 = 256u;
const OP: u32 = 0u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let p = layout.$.params;
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.count) { return; }
  let c = (i / p.HW) % p.C;
  let invStd = 1.0 / sqrt(layout.$.variance[c] + p.eps);
  switch OP {
    case 0u: {
      let xhat = (layout.$.x[i] - layout.$.mean[c]) * invStd;
      layout.$.out[i] = xhat * layout.$.gamma[c] + layout.$.beta[c];
    }
    case 1u: {
      layout.$.out[i] = layout.$.x[i] * layout.$.gamma[c] * invStd;
    }
    default: {
      layout.$.out[i] = layout.$.out[i] * invStd;
    }
  }
}
