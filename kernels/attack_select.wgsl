// Masked copy of whole images: dst[i] = src[i] for every element i of an image n whose mask[n] is
// non-zero; other images are left alone. The iterative attacks keep their best and their
// reported iterates, and restart from the best one, with it.
//
// Work split: one invocation per element, 256 per workgroup, spread over x and y as in
// elementwise.wgsl.

const WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  let p = layout.$.params;
  if (i >= p.count) { return; }
  if (layout.$.mask[i / p.perImage] != 0u) { layout.$.dst[i] = layout.$.src[i]; }
}
