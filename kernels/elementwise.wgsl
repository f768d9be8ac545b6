// Elementwise ops over flat float32 arrays, one pipeline per op (OP, set by the host):
//   0 clip forward:      out = min(max(a, lo), hi)              (ReLU, ReLU6)
//   1 clip backward:     out = b where lo < a < hi, else 0       (a = forward input x, b = dy)
//   2 add:               out = a + scale * b                     (residual add)
//   3 accumulate:        out = out + scale * b                   (gradient accumulation in place)
//   4 leaky forward:     out = a where a > 0, else scale * a     (LeakyReLU, slope `scale`)
//   5 leaky backward:    out = b where a > 0, else scale * b     (a = forward input x, b = dy)
//   6 sigmoid forward:   out = 1 / (1 + exp(-a))
//   7 sigmoid backward:  out = b * a * (1 - a)                   (a = forward output y, b = dy)
//
// Work split: one invocation per element, 256 invocations per workgroup. The host spreads the
// workgroups over x and y (grid1d) so more than 65535 * 256 elements fit in one dispatch; the
// element index, (wid.x + wid.y * nwg.x) * 256 + local index, is gid.x + gid.y * nwg.x * 256.
// Invocations past `count` return.

const WG: u32 = 256u;
const OP: u32 = 0u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  let p = layout.$.params;
  if (i >= p.count) { return; }
  switch OP {
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
    case 4u: {
      let x = layout.$.a[i];
      layout.$.out[i] = select(p.scale * x, x, x > 0.0);
    }
    case 5u: {
      layout.$.out[i] = select(p.scale, 1.0, layout.$.a[i] > 0.0) * layout.$.b[i];
    }
    case 6u: {
      // exp of a large negative argument overflows to inf, and 1 / inf is the right limit 0.
      layout.$.out[i] = 1.0 / (1.0 + exp(-layout.$.a[i]));
    }
    case 7u: {
      let y = layout.$.a[i];
      layout.$.out[i] = layout.$.b[i] * y * (1.0 - y);
    }
    default: {
      layout.$.out[i] = layout.$.out[i] + p.scale * layout.$.b[i];
    }
  }
}
