// One step of an L2 attack on a batch of images (count elements, perImage per image), in place on
// x and xPrev, after AutoAttack's APGD L2 (Croce & Hein 2020, fra31/auto-attack). For image n, with radius e = eps[n], step size
// s = eta[n] and ||.|| the image's Euclidean norm:
//   z        = x + direction * s * grad / (||grad|| + 1e-12)          a step along the gradient
//   z        = clamp(P(z), lo, hi)                                     onto the ball, then the range
//   v        = x + alpha * (z - x) + (1 - alpha) * (x - xPrev)         momentum (alpha = 1: none)
//   xPrev    = x;  x = clamp(P(v), lo, hi)
// where P(u) = origin + (u - origin) * min(1, e / (||u - origin|| + 1e-12)) scales the image's
// perturbation back onto the ball. Clipping to the range after the ball keeps the point in the
// ball: the origin is in the range, so each clipped coordinate moves towards it. A zero gradient
// moves only by momentum. FGM is one step from x = origin with s = e; a random start is a step
// along noise.
//
// Work split: one workgroup of 256 invocations per image (linear workgroup index
// wid.x + wid.y * nwg.x = image). Invocation t handles elements t, t + 256, ... of the image in
// every pass; the three norms are workgroupReduce sums (workgroup_reduce.wgsl) of its partial sums
// of squares. z and v are recomputed in each pass rather than stored; only the last pass writes.

const WG: u32 = 256u;
const TINY: f32 = 1e-12;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) t: u32) {
  let p = layout.$.params;
  let n = wid.x + wid.y * nwg.x;
  if (n * p.perImage >= p.count) { return; } // the same for the whole workgroup, so the reductions stay uniform
  let base = n * p.perImage;
  let e = layout.$.eps[n];
  var acc = 0.0;
  for (var j = t; j < p.perImage; j += WG) {
    let g = layout.$.grad[base + j];
    acc = fma(g, g, acc);
  }
  let c = p.direction * layout.$.eta[n] / (sqrt(workgroupReduce(t, acc, false)) + TINY);
  acc = 0.0;
  for (var j = t; j < p.perImage; j += WG) {
    let i = base + j;
    let d = layout.$.x[i] + c * layout.$.grad[i] - layout.$.origin[i];
    acc = fma(d, d, acc);
  }
  let f1 = min(1.0, e / (sqrt(workgroupReduce(t, acc, false)) + TINY));
  acc = 0.0;
  for (var j = t; j < p.perImage; j += WG) {
    let d = momentumMove(base + j, c, f1);
    acc = fma(d, d, acc);
  }
  let f2 = min(1.0, e / (sqrt(workgroupReduce(t, acc, false)) + TINY));
  for (var j = t; j < p.perImage; j += WG) {
    let i = base + j;
    let d = momentumMove(i, c, f1);
    layout.$.xPrev[i] = layout.$.x[i];
    layout.$.x[i] = clamp(layout.$.origin[i] + d * f2, p.lo, p.hi);
  }
}

// Element i's v - origin: the projected step z (gradient scale c, ball factor f1), with momentum.
fn momentumMove(i: u32, c: f32, f1: f32) -> f32 {
  let p = layout.$.params;
  let o = layout.$.origin[i];
  let now = layout.$.x[i];
  let z = clamp(o + (now + c * layout.$.grad[i] - o) * f1, p.lo, p.hi);
  return now + p.alpha * (z - now) + (1.0 - p.alpha) * (now - layout.$.xPrev[i]) - o;
}
