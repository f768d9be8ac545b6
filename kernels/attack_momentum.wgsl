// One APGD step (Croce & Hein 2020) of an L-infinity attack, in place on x and xPrev. For element
// i of image n = i / perImage, with radius e = eps[n] and step size s = eta[n]:
//   z         = P(x[i] + direction * s * sign(grad[i]))             the plain projected step
//   x'        = P(x[i] + alpha * (z - x[i]) + (1 - alpha) * (x[i] - xPrev[i]))   with momentum
//   xPrev[i]  = x[i];  x[i] = x'
// where P clamps to the ball [origin[i] - e, origin[i] + e] and then to the valid range [lo, hi].
// alpha = 1 is a plain PGD step of size s. sign(0) = 0: a zero gradient moves only by momentum.
//
// Work split: one invocation per element, 256 per workgroup, workgroups spread over x and y as in
// elementwise.wgsl (element gid.x + gid.y * nwg.x * 256).

const WG: u32 = 256u;

fn project(v: f32, o: f32, e: f32, lo: f32, hi: f32) -> f32 {
  return clamp(clamp(v, o - e, o + e), lo, hi);
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  let p = layout.$.params;
  if (i >= p.count) { return; }
  let n = i / p.perImage;
  let e = layout.$.eps[n];
  let o = layout.$.origin[i];
  let now = layout.$.x[i];
  let z = project(now + p.direction * layout.$.eta[n] * sign(layout.$.grad[i]), o, e, p.lo, p.hi);
  let v = project(now + p.alpha * (z - now) + (1.0 - p.alpha) * (now - layout.$.xPrev[i]), o, e, p.lo, p.hi);
  layout.$.xPrev[i] = now;
  layout.$.x[i] = v;
}
