// The k largest values of each row of x [B, C] and their column indices, largest first; equal
// values keep the lower index first. k <= MAX_K.
//
// Work split: one invocation per row, 64 per workgroup, workgroups spread over x and y (row
// gid.x + gid.y * nwg.x * 64, as in elementwise.wgsl). Each invocation scans its row once, keeping a
// sorted list of the best k so far in private memory (insertion sort; k is small). A new value is
// inserted after any equal one, and the scan goes by increasing index, so ties favour lower ones.

const WG: u32 = 64u;
const MAX_K: u32 = 10u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let p = layout.$.params;
  let row = gid.x + gid.y * nwg.x * WG;
  if (row >= p.B) { return; }
  var vals: array<f32, MAX_K>;
  var idxs: array<u32, MAX_K>;
  // Columns start .. end - 1; a later dispatch of a wide row carries on from the list the earlier
  // ones wrote (the host splits the scan under llvmpipe's loop limit, loop_limit.ts).
  let filled0 = min(p.start, p.k);
  for (var r = 0u; r < filled0; r++) {
    vals[r] = layout.$.values[row * p.k + r];
    idxs[r] = layout.$.indices[row * p.k + r];
  }
  var filled = filled0;
  for (var j = p.start; j < p.end; j++) {
    let v = layout.$.x[row * p.C + j];
    if (filled == p.k && !(v > vals[p.k - 1u])) { continue; }
    // The new value takes the next free slot, or the last one's when the list is full.
    var pos = min(filled, p.k - 1u);
    filled = min(filled + 1u, p.k);
    while (pos > 0u && v > vals[pos - 1u]) {
      vals[pos] = vals[pos - 1u];
      idxs[pos] = idxs[pos - 1u];
      pos--;
    }
    vals[pos] = v;
    idxs[pos] = j;
  }
  for (var r = 0u; r < filled; r++) {
    layout.$.values[row * p.k + r] = vals[r];
    layout.$.indices[row * p.k + r] = idxs[r];
  }
}
