// Binary elementwise functions with numpy/ONNX broadcasting, forward and backward, one pipeline per
// function (FN), operand (SIDE), entry point and merged rank (RANK 1 to 3, 0 for 4 to 8); the host
// (elementwise_binary.ts) merges axes that broadcast alike, so `rank` (at most 8) counts only the
// distinct broadcast patterns.
//   FN: 0 add, 1 sub, 2 mul, 3 div, 4 max, 5 min.
//
// Index arithmetic: an invocation's linear index is split into coordinates over `dims` (last axis
// fastest); offsets are dot products of coordinates with a stride vector, a stride being 0 along an
// axis where that operand broadcasts.
//   forward (mainForward): over the output, dims = output dims, strides1 = a's, strides2 = b's:
//     out[i] = f(a[i . strides1], b[i . strides2]).
//   backward, for the operand SIDE (0: a, 1: b), over that operand's elements j: dims = its dims
//     (1 where it broadcasts), reduced = the output dims it broadcasts along (1 elsewhere),
//     strides1 = the output's, strides2 = the other operand's. The output elements that read
//     operand element j are j's coordinates plus every coordinate r of `reduced`, so
//     out[j] = sum over r of dy[o] * df/d(side)(a, b) with o = (j + r) . strides1.
//   mainBackward sums the `reduce` terms in one invocation (256 elements per workgroup, for short
//   sums); mainBackwardReduce gives each element a workgroup of 64 that splits terms start .. end - 1
//   and adds the partial sums with workgroupReduce (workgroup_reduce.wgsl), for long ones (a
//   squeeze-excitation scale summed over a feature map). A sum longer than one dispatch may loop
//   on llvmpipe (loop_limit.ts: a scalar constant's gradient over a whole batch) takes several,
//   each adding its part to what the earlier ones wrote.
// Workgroups spread over x and y; the linear workgroup index is wid.x + wid.y * nwg.x.

const WG: u32 = 256u;
const FN: u32 = 0u;
const SIDE: u32 = 0u;
const RANK: u32 = 0u;

fn apply(a: f32, b: f32) -> f32 {
  switch FN {
    case 0u: { return a + b; }
    case 1u: { return a - b; }
    case 2u: { return a * b; }
    case 3u: { return a / b; }
    case 4u: { return max(a, b); }
    default: { return min(a, b); }
  }
}

// df/da (SIDE 0) or df/db (SIDE 1). At a tie max and min split the gradient evenly, as PyTorch does.
fn partial(a: f32, b: f32) -> f32 {
  let first = SIDE == 0u;
  switch FN {
    case 0u: { return 1.0; }
    case 1u: { return select(-1.0, 1.0, first); }
    case 2u: { return select(a, b, first); }
    case 3u: { return select(-a / (b * b), 1.0 / b, first); }
    case 4u: {
      if (a == b) { return 0.5; }
      return select(0.0, 1.0, (a > b) == first);
    }
    default: {
      if (a == b) { return 0.5; }
      return select(0.0, 1.0, (a < b) == first);
    }
  }
}

// How many axes the index arithmetic walks: RANK when the host specialised it (1 to 3, the common
// cases, so the loops unroll and the axis reads become constant), else the uniform's rank.
fn axes() -> u32 {
  return select(layout.$.params.rank, RANK, RANK > 0u);
}

// The coordinates of `index` over the dims (reduced = false) or the reduced dims (reduced = true),
// dotted with strides1 and strides2.
fn offsets(index: u32, reduced: bool) -> vec2u {
  let p = layout.$.params;
  var rest = index;
  var off = vec2u(0u, 0u);
  for (var k = axes(); k > 0u; k--) {
    let axis = k - 1u;
    let dim = select(p.dims[axis / 4u][axis % 4u], p.reduced[axis / 4u][axis % 4u], reduced);
    let c = rest % dim;
    rest /= dim;
    off += c * vec2u(p.strides1[axis / 4u][axis % 4u], p.strides2[axis / 4u][axis % 4u]);
  }
  return off;
}

// dy[o] * df/d(side) for output element o, the operand's own value `mine`, the other's at `other`.
fn term(mine: f32, otherOffset: u32, o: u32) -> f32 {
  if (SIDE == 0u) {
    return layout.$.dy[o] * partial(mine, layout.$.b[otherOffset]);
  }
  return layout.$.dy[o] * partial(layout.$.a[otherOffset], mine);
}

// The sum over r = first, first + step, ... below `end` of operand element j's terms.
fn partialSum(j: u32, first: u32, step: u32, end: u32) -> f32 {
  let p = layout.$.params;
  let base = offsets(j, false);
  var mine = layout.$.b[j];
  if (SIDE == 0u) { mine = layout.$.a[j]; }
  var acc = 0.0;
  for (var r = first; r < end; r += step) {
    let off = base + offsets(r, true);
    acc += term(mine, off.y, off.x);
  }
  return acc;
}

@compute @workgroup_size(WG)
fn mainForward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  let p = layout.$.params;
  if (i >= p.count) { return; }
  if (axes() == 1u) {
    // One merged axis: each operand is read whole (stride 1) or repeats one value (stride 0).
    layout.$.out[i] = apply(layout.$.a[i * p.strides1[0].x], layout.$.b[i * p.strides2[0].x]);
    return;
  }
  let off = offsets(i, false);
  layout.$.out[i] = apply(layout.$.a[off.x], layout.$.b[off.y]);
}

@compute @workgroup_size(WG)
fn mainBackward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let j = gid.x + gid.y * nwg.x * WG;
  let p = layout.$.params;
  if (j >= p.count) { return; }
  if (p.reduce == 1u) {
    // The operand spans the output (no sum): j is also the output element.
    var mine = layout.$.b[j];
    if (SIDE == 0u) { mine = layout.$.a[j]; }
    layout.$.out[j] = term(mine, offsets(j, false).y, j);
    return;
  }
  layout.$.out[j] = partialSum(j, 0u, 1u, p.reduce);
}

@compute @workgroup_size(WG)
fn mainBackwardReduce(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_index) t: u32,
) {
  let j = wid.x + wid.y * nwg.x;
  let p = layout.$.params;
  if (j >= p.count) { return; } // the same for the whole workgroup, so the reduction stays uniform
  let total = workgroupReduce(t, partialSum(j, p.start + t, WG, p.end), false);
  if (t == 0u) { layout.$.out[j] = select(total, layout.$.out[j] + total, p.start > 0u); }
}
