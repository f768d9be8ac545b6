// Sum, mean or max of a tensor along a set of axes, and the gradients back, chosen by OP:
//   0 sum/mean forward: out[o] = scale * sum over the reduced positions r of x[base(o) + offset(r)]
//   1 max forward:      out[o] = max over r of x[...]; argmax[o] = the flat input index of the first
//                       maximum (ties go to the lowest index, as torch.max along a dim)
//   2 sum/mean backward, one invocation per input element i: out[i] = scale * x[outIndex(i)] (x = dy)
//   3 max backward: out[i] = dy[o] where argmax[o] == i, else 0 (o = outIndex(i))
// The host merges neighbouring axes of the same kind, so a shape arrives as up to 8 kept axes and up
// to 8 reduced ones, each with its size and its stride in the input; kept axes also carry their
// stride in the output. One invocation per output element (forward) or per input element
// (backward): the reductions met in classifiers (spatial means, attention rows) are short; a
// longer one takes several dispatches, each under llvmpipe's loop limit (loop_limit.ts).

const OP: u32 = 0u;
const BIG: f32 = 3.4e38;

fn lane(v: array<vec4u, 2>, i: u32) -> u32 { return v[i / 4u][i % 4u]; }

// Input offset of output element o: its kept coordinates (row-major over the kept axes) times their input strides.
fn baseOf(o: u32) -> u32 {
  let p = layout.$.params;
  var rest = o;
  var base = 0u;
  for (var k = i32(p.keptRank) - 1; k >= 0; k--) {
    let size = lane(p.keptSizes, u32(k));
    base += (rest % size) * lane(p.keptStrides, u32(k));
    rest /= size;
  }
  return base;
}

fn offsetOf(r: u32) -> u32 {
  let p = layout.$.params;
  var rest = r;
  var offset = 0u;
  for (var k = i32(p.reducedRank) - 1; k >= 0; k--) {
    let size = lane(p.reducedSizes, u32(k));
    offset += (rest % size) * lane(p.reducedStrides, u32(k));
    rest /= size;
  }
  return offset;
}

// Output element of input element i: its kept coordinates times their output strides.
fn outIndex(i: u32) -> u32 {
  let p = layout.$.params;
  var o = 0u;
  for (var k = 0u; k < p.keptRank; k++) {
    o += ((i / lane(p.keptStrides, k)) % lane(p.keptSizes, k)) * lane(p.keptOutStrides, k);
  }
  return o;
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let p = layout.$.params;
  let idx = gid.x + gid.y * nwg.x * 256u;
  if (idx >= p.count) { return; }
  // A forward takes reduced positions reducedStart .. reducedEnd - 1, continuing from what the
  // earlier dispatches of the reduction wrote when reducedStart > 0 (see the host).
  let more = p.reducedStart > 0u;
  if (OP == 0u) {
    let base = baseOf(idx);
    var acc = 0.0;
    for (var r = p.reducedStart; r < p.reducedEnd; r++) { acc += layout.$.x[base + offsetOf(r)]; }
    var total = acc * p.scale;
    if (more) { total += layout.$.out[idx]; }
    layout.$.out[idx] = total;
  } else if (OP == 1u) {
    let base = baseOf(idx);
    var best = -BIG;
    var found = base;
    if (more) {
      best = layout.$.out[idx];
      found = layout.$.argmaxOut[idx];
    }
    for (var r = p.reducedStart; r < p.reducedEnd; r++) {
      let i = base + offsetOf(r);
      let v = layout.$.x[i];
      if (v > best) { best = v; found = i; }
    }
    layout.$.out[idx] = best;
    layout.$.argmaxOut[idx] = found;
  } else if (OP == 2u) {
    layout.$.out[idx] = layout.$.x[outIndex(idx)] * p.scale;
  } else {
    let o = outIndex(idx);
    layout.$.out[idx] = select(0.0, layout.$.x[o], layout.$.argmaxIn[o] == idx);
  }
}
