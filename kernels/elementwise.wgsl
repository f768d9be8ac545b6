// Elementwise ops over flat float32 arrays, chosen by params.op:
//   0 clip forward:      out = min(max(a, lo), hi)              (ReLU, ReLU6)
//   1 clip backward:     out = b where lo < a < hi, else 0       (a = forward input x, b = dy)
//   2 add:               out = a + scale * b                     (residual add)
//   3 accumulate:        out = out + scale * b                   (gradient accumulation in place)
//
// Work split: one invocation per element, 256 invocations per workgroup. The host spreads the
// workgroups over x and y (grid1d) so more than 65535 * 256 elements fit in one dispatch; the
// element index, (wid.x + wid.y * nwg.x) * 256 + local index, is gid.x + gid.y * nwg.x * 256.
// Invocations past `count` return.

const WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  let p = layout.$.params;
  if (i >= p.count) { return; }
  switch p.op {
    case 0u: {
      layout.$.out[i] = min(max(layout.$.a[i], p.lo), p.hi);
    }
    case 1u: {
      let x = layout.$.a[i];
      layout.$.out[i] = select(0.0, layout.$.b[i], x > p.lo && x < p.hi);
    }
    case 2u: {
      layout.$.out[i] = layout.$.a[i] + p.scale * layout.$.b[i];
    }
    default: {
      layout.$.out[i] = layout.$.out[i] + p.scale * layout.$.b[i];
    }
  }
}
