// Input gradient of batch norm in training mode, where mean and variance depend on x:
//   dx = gamma * invStd * (dy - dbeta / M - xhat * dgamma / M),  xhat = (x - mean) * invStd,
// with M = N * HW values per channel and dbeta = sum(dy), dgamma = sum(dy * xhat) per channel
// (computed beforehand by channel_sum). One invocation per element, workgroups over x and y.

const WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
) {
  let p = layout.$.params;
  let i = (wid.x + wid.y * nwg.x) * WG + lid.x;
  let total = p.N * p.C * p.HW;
  if (i >= total) { return; }
  let c = (i / p.HW) % p.C;
  let invStd = 1.0 / sqrt(layout.$.variance[c] + p.eps);
  let xhat = (layout.$.x[i] - layout.$.mean[c]) * invStd;
  let m = f32(p.N * p.HW);
  let g = layout.$.dy[i] - layout.$.dbeta[c] / m - xhat * layout.$.dgamma[c] / m;
  layout.$.dx[i] = layout.$.gamma[c] * invStd * g;
}
