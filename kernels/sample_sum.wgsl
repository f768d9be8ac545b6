// Accumulates a chunk of per-sample gradients into their running sum:
//   acc[i] += scale * sum_s g[s, i],   s < samples, i < count.
// One invocation per element i (256 per workgroup, workgroups over x and y); each walks the
// chunk's samples, so the chunk is summed in one pass without atomics.

const WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  let p = layout.$.params;
  if (i >= p.count) { return; }
  var total = 0.0;
  for (var s = 0u; s < p.samples; s++) {
    total += layout.$.g[s * p.count + i];
  }
  layout.$.acc[i] += p.scale * total;
}
