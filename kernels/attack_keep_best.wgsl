// Keeps, per image, the attack iterate with the best objective so far (PGD returns it rather than
// the last iterate, so an attack never ends worse than it started). The objective of image n is
// direction * loss[n]: +1 maximises the loss (untargeted), -1 minimises it (targeted). Two passes,
// chosen by params.op, dispatched in this order (the second overwrites what the first compares):
//   0 pixels: best[i] = x[i] for every element i of an image n whose objective improved
//   1 losses: bestLoss[n] = loss[n] for every image n whose objective improved
//
// Work split: one invocation per element (op 0) or per image (op 1), 256 per workgroup, spread
// over x and y as in elementwise.wgsl.

const WG: u32 = 256u;

fn improved(n: u32) -> bool {
  let p = layout.$.params;
  return p.direction * layout.$.loss[n] > p.direction * layout.$.bestLoss[n];
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  let p = layout.$.params;
  if (i >= p.count) { return; }
  if (p.op == 0u) {
    if (improved(i / p.perImage)) { layout.$.best[i] = layout.$.x[i]; }
  } else if (improved(i)) {
    layout.$.bestLoss[i] = layout.$.loss[i];
  }
}
