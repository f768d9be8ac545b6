// The difference-of-logits-ratio loss of Croce & Hein 2020 and its gradient w.r.t. the logits, per
// row n of logits z [B, C] (z sorted descending is z_p1 >= z_p2 >= ...), y = labels[n]:
//   untargeted:  L = -(z_y - max_{k != y} z_k) / (z_p1 - z_p3 + 1e-12)
//   targeted:    L = -(z_y - z_t) / (z_p1 - (z_p3 + z_p4) / 2 + 1e-12),  t = targets[n]
// Both are to be maximised. With L = -N / D: dL/dz = -dN/dz / D + N / D^2 * dD/dz, where N and D
// are linear in at most four logits. The loss is invariant to shifting and scaling the logits,
// so it does not saturate like the cross-entropy. Needs C >= 3 (untargeted), C >= 4 (targeted).
//
// Work split: one invocation per row.

const WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let n = gid.x + gid.y * nwg.x * WG;
  let p = layout.$.params;
  if (n >= p.B) { return; }
  let base = n * p.C;
  // The indices of the four largest logits, largest first (ties: the lower index first).
  var top = array<u32, 4>(0u, 0u, 0u, 0u);
  var found = 0u;
  for (var k = 0u; k < p.C; k++) {
    let v = layout.$.logits[base + k];
    var at = min(found, 4u);
    while (at > 0u && layout.$.logits[base + top[at - 1u]] < v) {
      if (at < 4u) { top[at] = top[at - 1u]; }
      at--;
    }
    if (at < 4u) { top[at] = k; }
    found++;
  }
  let y = layout.$.labels[n];
  var other = top[0];
  if (other == y) { other = top[1]; }
  if (p.targeted == 1u) { other = layout.$.targets[n]; }
  let gap = layout.$.logits[base + y] - layout.$.logits[base + other];
  var d = layout.$.logits[base + top[0]] - layout.$.logits[base + top[2]] + 1e-12;
  if (p.targeted == 1u) {
    d = layout.$.logits[base + top[0]] - 0.5 * (layout.$.logits[base + top[2]] + layout.$.logits[base + top[3]]) + 1e-12;
  }
  layout.$.loss[n] = -gap / d;
  for (var k = 0u; k < p.C; k++) { layout.$.dlogits[base + k] = 0.0; }
  layout.$.dlogits[base + y] -= 1.0 / d;
  layout.$.dlogits[base + other] += 1.0 / d;
  let r = gap / (d * d);
  layout.$.dlogits[base + top[0]] += r;
  if (p.targeted == 1u) {
    layout.$.dlogits[base + top[2]] -= 0.5 * r;
    layout.$.dlogits[base + top[3]] -= 0.5 * r;
  } else {
    layout.$.dlogits[base + top[2]] -= r;
  }
}
