// Squared Euclidean norm of each row of a [rows, width] matrix: out[r] = sum_k x[r, k]^2.
// One invocation per row (feature widths are small, a few thousand at most), 256 per workgroup,
// workgroups spread over x and y (grid1d); the row is gid.x + gid.y * nwg.x * 256.

const WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = gid.x + gid.y * nwg.x * WG;
  let p = layout.$.params;
  if (r >= p.rows) { return; }
  var acc = 0.0;
  for (var k = 0u; k < p.width; k++) {
    let v = layout.$.x[r * p.width + k];
    acc = fma(v, v, acc);
  }
  layout.$.out[r] = acc;
}
