// Strided copy: every movement op (reshape aside, which is a plain buffer copy) as one gather.
//
// The host describes an iteration space of up to 8 axes (`dims`, outermost first) and, for each
// axis, how far one step along it moves in the source and in the destination (`srcStrides`,
// `dstStrides`; 0 broadcasts, negative walks backwards). Each point c of the space writes
//   dst[dstBase + c . dstStrides] = value + sum over r of src[srcBase + c . srcStrides + r . reduceStrides]
// where r runs over a second space (`reduceDims`): a copy (MODE 0) reads one element with no reduce
// axes, a sum (MODE 2, an expand's backward) the broadcast axes, a fill (MODE 1) none. A sum takes
// points reduceStart .. reduceEnd - 1 of that space and adds them to what dst holds when
// reduceStart > 0: the host splits a long sum into dispatches under llvmpipe's loop limit
// (loop_limit.ts), one point of dst per invocation. Transpose, slice (any step), pad, concat, split and expand forward are copies with
// the right strides; their backwards are copies with source and destination strides swapped.
//
// Copies have one pipeline per RANK (1 to 8); fills and sums one each, at RANK 8. Work split: one
// invocation per PER points of a row of the innermost axis (`chunks` invocations per row, each
// taking every chunks-th point, so neighbouring invocations touch neighbouring elements), 256 per
// workgroup, spread over x and y by the host (grid1d); the index is gid.x + gid.y * nwg.x * 256.
// Invocations past `count` return.

const WG: u32 = 256u;
// Axes of the iteration space, set per pipeline by the host (specializeConstants): loops of a
// fixed length unroll, so every per-axis lookup below is at a constant index.
const RANK: u32 = 1u;
// 0: copy (value + one source element), 1: fill (value alone), 2: sum over the reduce space. Also
// set per pipeline: a branch on a uniform costs every invocation on CPU adapters, a constant nothing.
const MODE: u32 = 0u;
// Points of the innermost axis one invocation walks at most (its index arithmetic is paid once).
const PER: u32 = 8u;

fn axisDim(v: array<vec4u, 2>, a: u32) -> u32 { return v[a / 4u][a % 4u]; }
fn axisStride(v: array<vec4i, 2>, a: u32) -> i32 { return v[a / 4u][a % 4u]; }

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= layout.$.params.count) { return; }
  let dims = layout.$.params.dims;
  let srcStrides = layout.$.params.srcStrides;
  let dstStrides = layout.$.params.dstStrides;
  // Row i / chunks of the innermost axis, its points i % chunks, i % chunks + chunks, ...
  let chunks = layout.$.params.chunks;
  var rest = i / chunks;
  let first = i % chunks;
  var s = layout.$.params.srcBase;
  var t = layout.$.params.dstBase;
  for (var k = 1u; k < RANK; k++) {
    let a = RANK - 1u - k;
    let n = axisDim(dims, a);
    let c = i32(rest % n);
    rest = rest / n;
    s += c * axisStride(srcStrides, a);
    t += c * axisStride(dstStrides, a);
  }
  let inner = RANK - 1u;
  let extent = axisDim(dims, inner);
  let reduceStart = layout.$.params.reduceStart;
  let reduceEnd = layout.$.params.reduceEnd;
  for (var c = first; c < extent; c += chunks) {
    let at = s + i32(c) * axisStride(srcStrides, inner);
    let to = u32(t + i32(c) * axisStride(dstStrides, inner));
    var acc = layout.$.params.value;
    if (MODE == 0u) {
      acc += layout.$.src[u32(at)];
    } else if (MODE == 2u) {
      if (reduceStart > 0u) { acc = layout.$.dst[to]; } // an earlier dispatch summed the points before
      for (var r = reduceStart; r < reduceEnd; r++) {
        var left = r;
        var o = at;
        for (var k = layout.$.params.reduceRank; k > 0u; k--) {
          let a = k - 1u;
          let n = axisDim(layout.$.params.reduceDims, a);
          o += i32(left % n) * axisStride(layout.$.params.reduceStrides, a);
          left = left / n;
        }
        acc += layout.$.src[u32(o)];
      }
    }
    layout.$.dst[to] = acc;
  }
}
