// One optimiser step on a parameter tensor, one invocation per element (workgroups over x, y).
//   op 0, SGD with momentum:  v = momentum * v + (g + decay * w);  w -= lr * v
//   op 1, Adam:               m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
//                             w -= lr * (m / c1) / (sqrt(v / c2) + eps) + lr * decay * w
// where c1 = 1 - b1^t and c2 = 1 - b2^t are the bias corrections, computed on the host.
// SGD binds a placeholder to `second` (it is not read).

const WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
) {
  let p = layout.$.params;
  let i = (wid.x + wid.y * nwg.x) * WG + lid.x;
  if (i >= p.count) { return; }
  let g = layout.$.grad[i];
  let w = layout.$.weight[i];
  if (p.op == 0u) {
    let v = p.momentum * layout.$.first[i] + g + p.decay * w;
    layout.$.first[i] = v;
    layout.$.weight[i] = w - p.lr * v;
  } else {
    let m = p.beta1 * layout.$.first[i] + (1.0 - p.beta1) * g;
    let v = p.beta2 * layout.$.second[i] + (1.0 - p.beta2) * g * g;
    layout.$.first[i] = m;
    layout.$.second[i] = v;
    layout.$.weight[i] = w - p.lr * ((m / p.correction1) / (sqrt(v / p.correction2) + p.eps) + p.decay * w);
  }
}
