// Squared Euclidean norm of each row of a [rows, width] matrix: out[r] = sum_k x[r, k]^2.
// One invocation per row (feature widths are a few thousand by default), 256 per workgroup,
// workgroups spread over x and y (grid1d); the row is gid.x + gid.y * nwg.x * 256. A dispatch sums
// columns start .. end - 1 and adds them to out when start > 0: a wider row (a feature map chosen as
// the feature node) takes several dispatches, each under llvmpipe's loop limit (loop_limit.ts).

const WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = gid.x + gid.y * nwg.x * WG;
  let p = layout.$.params;
  if (r >= p.rows) { return; }
  var acc = 0.0;
  if (p.start > 0u) { acc = layout.$.out[r]; }
  for (var k = p.start; k < p.end; k++) {
    let v = layout.$.x[r * p.width + k];
    acc = fma(v, v, acc);
  }
  layout.$.out[r] = acc;
}
