// Saliency maps: per image and pixel, a reduction over channels of the attribution
//   a_c = g[b, c, q] * (x[b, c, q] - base[b, c, q])   (multiply = 1: gradient x input, IG)
//   a_c = g[b, c, q]                                   (multiply = 0: plain gradients)
// reduce: 0 max |a_c|, 1 sum |a_c|, 2 sum a_c (signed: IG's completeness holds for it), 3 sqrt(sum a_c^2).
// One invocation per output pixel (b, q) of [batch, plane]; channels are few, so a loop.

const WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let o = gid.x + gid.y * nwg.x * WG;
  let p = layout.$.params;
  if (o >= p.batch * p.plane) { return; }
  let b = o / p.plane;
  let q = o % p.plane;
  var acc = 0.0;
  for (var c = 0u; c < p.channels; c++) {
    let i = (b * p.channels + c) * p.plane + q;
    var a = layout.$.g[i];
    if (p.multiply == 1u) { a *= layout.$.x[i] - layout.$.base[i]; }
    switch p.reduce {
      case 0u: { acc = max(acc, abs(a)); }
      case 1u: { acc += abs(a); }
      case 2u: { acc += a; }
      default: { acc += a * a; }
    }
  }
  if (p.reduce == 3u) { acc = sqrt(acc); }
  layout.$.out[o] = acc;
}
