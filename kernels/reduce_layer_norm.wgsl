// Layer normalisation over the last D values of each of `rows` rows (ONNX LayerNormalization
// over the trailing axes; instance normalisation is the same with rows = N * C, D = H * W and the
// affine per channel, row % C, instead of per position). Chosen by OP:
//   0 forward: mean, then the variance of the deviations (two passes: no cancellation), then
//      y = (x - mean) * rstd * scale + bias, with rstd = 1 / sqrt(var + eps); stats = [mean, rstd]
//      per row (aux) for backward
//   1 input gradient, per row, with g = dy * scale and xhat = (x - mean) * rstd:
//      dx = rstd * (g - mean(g) - xhat * mean(g * xhat))
//   2 parameter gradients: out = d scale = sum of dy * xhat, aux = d bias = sum of dy, over the
//      rows (per position d), or over the rows of a channel and every position (per channel), in
//      dispatches of at most LOOP_CHUNK terms
// One invocation per row (0, 1) or per parameter (2); `wide` gives a long row (instance norm over a
// feature map, a group norm exported as one) a workgroup of WG that splits each pass and adds the
// partial sums with workgroupReduce (workgroup_reduce.wgsl): the loops of one invocation stay under
// llvmpipe's limit (loop_limit.ts), and the few long rows spread over every thread.

const OP: u32 = 0u;
const WG: u32 = 64u;

fn affineIndex(row: u32, d: u32) -> u32 {
  let p = layout.$.params;
  return select(d, row % p.C, p.perChannel == 1u);
}

fn xhat(row: u32, d: u32) -> f32 {
  let s = 2u * row;
  return (layout.$.x[row * layout.$.params.D + d] - layout.$.stats[s]) * layout.$.stats[s + 1u];
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let p = layout.$.params;
  let idx = gid.x + gid.y * nwg.x * 256u;
  let base = idx * p.D;
  if (OP == 0u) {
    if (idx >= p.rows) { return; }
    var sum = 0.0;
    for (var d = 0u; d < p.D; d++) { sum += layout.$.x[base + d]; }
    let mean = sum / f32(p.D);
    var squares = 0.0;
    for (var d = 0u; d < p.D; d++) {
      let dev = layout.$.x[base + d] - mean;
      squares += dev * dev;
    }
    let rstd = 1.0 / sqrt(squares / f32(p.D) + p.eps);
    for (var d = 0u; d < p.D; d++) {
      let a = affineIndex(idx, d);
      var v = (layout.$.x[base + d] - mean) * rstd * layout.$.scale[a];
      if (p.hasBias == 1u) { v += layout.$.bias[a]; }
      layout.$.out[base + d] = v;
    }
    layout.$.aux[2u * idx] = mean;
    layout.$.aux[2u * idx + 1u] = rstd;
  } else if (OP == 1u) {
    if (idx >= p.rows) { return; }
    var meanG = 0.0;
    var meanGX = 0.0;
    for (var d = 0u; d < p.D; d++) {
      let g = layout.$.dy[base + d] * layout.$.scale[affineIndex(idx, d)];
      meanG += g;
      meanGX += g * xhat(idx, d);
    }
    meanG /= f32(p.D);
    meanGX /= f32(p.D);
    let rstd = layout.$.stats[2u * idx + 1u];
    for (var d = 0u; d < p.D; d++) {
      let g = layout.$.dy[base + d] * layout.$.scale[affineIndex(idx, d)];
      layout.$.out[base + d] = rstd * (g - meanG - xhat(idx, d) * meanGX);
    }
  } else {
    // Terms start .. end - 1 of the parameter's: a row each (per position), or each value of the
    // channel's rows, image by image (per channel). The host splits the terms into dispatches under
    // llvmpipe's loop limit (loop_limit.ts); each adds to what the earlier ones wrote.
    if (idx >= select(p.D, p.C, p.perChannel == 1u)) { return; }
    var dscale = 0.0;
    var dbias = 0.0;
    if (p.start > 0u) {
      dscale = layout.$.out[idx];
      dbias = layout.$.aux[idx];
    }
    for (var j = p.start; j < p.end; j++) {
      var row = j;
      var d = idx;
      if (p.perChannel == 1u) {
        row = idx + (j / p.D) * p.C;
        d = j % p.D;
      }
      let g = layout.$.dy[row * p.D + d];
      dscale += g * xhat(row, d);
      dbias += g;
    }
    layout.$.out[idx] = dscale;
    layout.$.aux[idx] = dbias;
  }
}

// The sum over a wide row's values of one pass's terms, for invocation t of its workgroup: for
// OP 0 the values, then (second) their squared deviations from `mean`; for OP 1 g, then g * xhat.
fn wideSum(row: u32, t: u32, second: bool, mean: f32) -> f32 {
  let p = layout.$.params;
  let base = row * p.D;
  var acc = 0.0;
  for (var d = t; d < p.D; d += WG) {
    if (OP == 0u) {
      let v = layout.$.x[base + d];
      acc += select(v, (v - mean) * (v - mean), second);
    } else {
      let g = layout.$.dy[base + d] * layout.$.scale[affineIndex(row, d)];
      acc += select(g, g * xhat(row, d), second);
    }
  }
  return workgroupReduce(t, acc, false);
}

@compute @workgroup_size(WG)
fn wide(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) t: u32) {
  let p = layout.$.params;
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) { return; } // the same for the whole workgroup, so the reductions stay uniform
  let base = row * p.D;
  if (OP == 0u) {
    let mean = wideSum(row, t, false, 0.0) / f32(p.D);
    let rstd = 1.0 / sqrt(wideSum(row, t, true, mean) / f32(p.D) + p.eps);
    for (var d = t; d < p.D; d += WG) {
      let a = affineIndex(row, d);
      var v = (layout.$.x[base + d] - mean) * rstd * layout.$.scale[a];
      if (p.hasBias == 1u) { v += layout.$.bias[a]; }
      layout.$.out[base + d] = v;
    }
    if (t == 0u) {
      layout.$.aux[2u * row] = mean;
      layout.$.aux[2u * row + 1u] = rstd;
    }
  } else {
    let meanG = wideSum(row, t, false, 0.0) / f32(p.D);
    let meanGX = wideSum(row, t, true, 0.0) / f32(p.D);
    let rstd = layout.$.stats[2u * row + 1u];
    for (var d = t; d < p.D; d += WG) {
      let g = layout.$.dy[base + d] * layout.$.scale[affineIndex(row, d)];
      layout.$.out[base + d] = rstd * (g - meanG - xhat(row, d) * meanGX);
    }
  }
}
