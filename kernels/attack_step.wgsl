// One step of an L-infinity attack on a batch of images, in place on x. For element i of image
// n = i / perImage, with e = eps[n] (each image has its own radius, so bisection runs batched):
//   d    = sign(grad[i])                  (grad[i] itself when useSign = 0: the random start,
//                                          where grad holds uniform noise in [-1, 1])
//   v    = x[i] + scale * e * d           (scale = +stepFraction to ascend the loss, untargeted;
//                                          -stepFraction to descend it, targeted)
//   v    = clamp(v, origin[i] - e, origin[i] + e)   projection onto the ball around the original
//   x[i] = clamp(v, lo, hi)                         the model's valid input range
// sign(0) = 0, so a zero gradient leaves the pixel where it is.
//
// Work split: one invocation per element, 256 per workgroup, workgroups spread over x and y as in
// elementwise.wgsl (element gid.x + gid.y * nwg.x * 256).

const WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  let p = layout.$.params;
  if (i >= p.count) { return; }
  let e = layout.$.eps[i / p.perImage];
  let g = layout.$.grad[i];
  let d = select(g, sign(g), p.useSign == 1u);
  let o = layout.$.origin[i];
  let v = clamp(layout.$.x[i] + p.scale * e * d, o - e, o + e);
  layout.$.x[i] = clamp(v, p.lo, p.hi);
}
