// Softmax or log-softmax along one axis of a tensor viewed as [outer, A, inner], chosen by OP:
//   0 forward:  y = exp(x - m) / s, or (log) y = x - m - log(s), with m the row's max and
//               s = sum exp(x - m): subtracting the max keeps large logits finite
//   1 backward: dx = y * (dy - sum(dy * y)), or (log) dx = dy - exp(y) * sum(dy)  (x bound = forward y)
// A row is the A values at one (outer, inner) position, inner apart in memory. One invocation per
// row: the rows met in classifiers (attention scores, classes) are a few hundred long.

const OP: u32 = 0u;
const BIG: f32 = 3.4e38;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let p = layout.$.params;
  let row = gid.x + gid.y * nwg.x * 256u;
  if (row >= p.rows) { return; }
  let base = (row / p.inner) * p.A * p.inner + row % p.inner;
  if (OP == 0u) {
    var m = -BIG;
    for (var k = 0u; k < p.A; k++) { m = max(m, layout.$.x[base + k * p.inner]); }
    var s = 0.0;
    for (var k = 0u; k < p.A; k++) { s += exp(layout.$.x[base + k * p.inner] - m); }
    let logS = log(s);
    for (var k = 0u; k < p.A; k++) {
      let i = base + k * p.inner;
      let shifted = layout.$.x[i] - m;
      layout.$.out[i] = select(exp(shifted) / s, shifted - logS, p.log == 1u);
    }
  } else {
    var total = 0.0;
    for (var k = 0u; k < p.A; k++) {
      let i = base + k * p.inner;
      total += select(layout.$.dy[i] * layout.$.x[i], layout.$.dy[i], p.log == 1u);
    }
    for (var k = 0u; k < p.A; k++) {
      let i = base + k * p.inner;
      let y = layout.$.x[i];
      let g = layout.$.dy[i];
      layout.$.out[i] = select(y * (g - total), g - exp(y) * total, p.log == 1u);
    }
  }
}
