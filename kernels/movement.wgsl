// Strided copy: every movement op (reshape aside, which is a plain buffer copy) as one gather.
//
// The host describes an iteration space of up to 8 axes (`dims`, outermost first) and, for each
// axis, how far one step along it moves in the source and in the destination (`srcStrides`,
// `dstStrides`; 0 broadcasts, negative walks backwards). Invocation i takes the i-th point of the
// space and writes
//   dst[dstBase + c . dstStrides] = value + sum over r of src[srcBase + c . srcStrides + r . reduceStrides]
// where r runs over a second space (`reduceDims`, `reduceCount` points): one point with no axes for
// a plain copy, the broadcast axes for an expand's backward, none (reduceCount = 0) to fill with
// `value`. Transpose, slice (any step), pad, concat, split and expand forward are copies with the
// right strides; their backwards are copies with source and destination strides swapped.
//
// Work split: one invocation per point, 256 per workgroup, workgroups spread over x and y by the
// host (grid1d); the index is gid.x + gid.y * nwg.x * 256. Invocations past `count` return.

const WG: u32 = 256u;

fn axisDim(v: array<vec4u, 2>, a: u32) -> u32 { return v[a / 4u][a % 4u]; }
fn axisStride(v: array<vec4i, 2>, a: u32) -> i32 { return v[a / 4u][a % 4u]; }

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  let p = layout.$.params;
  if (i >= p.count) { return; }
  var rest = i;
  var s = p.srcBase;
  var t = p.dstBase;
  for (var k = p.rank; k > 0u; k--) {
    let a = k - 1u;
    let n = axisDim(p.dims, a);
    let c = i32(rest % n);
    rest = rest / n;
    s += c * axisStride(p.srcStrides, a);
    t += c * axisStride(p.dstStrides, a);
  }
  var acc = p.value;
  for (var r = 0u; r < p.reduceCount; r++) {
    var left = r;
    var o = s;
    for (var k = p.reduceRank; k > 0u; k--) {
      let a = k - 1u;
      let n = axisDim(p.reduceDims, a);
      o += i32(left % n) * axisStride(p.reduceStrides, a);
      left = left / n;
    }
    acc += layout.$.src[u32(o)];
  }
  layout.$.dst[u32(t)] = acc;
}
