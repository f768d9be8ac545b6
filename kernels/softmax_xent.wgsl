// Softmax and cross-entropy per row of logits [B, C], chosen by params.op:
//   0 forward:  out = softmax(row); loss[row] = logsumexp(row) - row[label]  (when hasLabels = 1)
//   1 backward: out = (softmax(row) - onehot(label)) / B, the gradient of the mean loss over rows
// Softmax is computed as exp(x - logsumexp), with logsumexp = max + log(sum exp(x - max)), so large
// logits stay finite. A label >= C has no one-hot term and a loss of 3.4e38 (standing in for +inf).
//
// Work split: one workgroup of 256 invocations per row (row = wid.x + wid.y * nwg.x). Invocation t
// handles columns t, t + 256, ... of its row; the row's max and sum of exponentials are combined
// across the workgroup by workgroupReduce (workgroup_reduce.wgsl).

const WG: u32 = 256u;
const BIG: f32 = 3.4e38;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) t: u32) {
  let p = layout.$.params;
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.B) { return; }
  let base = row * p.C;
  var m = -BIG;
  for (var j = t; j < p.C; j += WG) { m = max(m, layout.$.logits[base + j]); }
  m = workgroupReduce(t, m, true);
  var s = 0.0;
  for (var j = t; j < p.C; j += WG) { s += exp(layout.$.logits[base + j] - m); }
  let lse = m + log(workgroupReduce(t, s, false));

  var label = p.C; // none
  if (p.hasLabels == 1u) { label = layout.$.labels[row]; }
  // The label's entry p - 1 is computed as -(sum of the other probabilities): when p rounds to 1
  // in float32, p - 1 would be 0 and the gradient would stop pulling the label's logit.
  var rest = 0.0;
  if (p.op == 1u) {
    var partialRest = 0.0;
    for (var j = t; j < p.C; j += WG) {
      if (j != label) { partialRest += exp(layout.$.logits[base + j] - lse); }
    }
    rest = workgroupReduce(t, partialRest, false);
  }
  for (var j = t; j < p.C; j += WG) {
    let prob = exp(layout.$.logits[base + j] - lse);
    if (p.op == 0u) {
      layout.$.out[base + j] = prob;
    } else {
      layout.$.out[base + j] = select(prob, -rest, j == label) / f32(p.B);
    }
  }
  if (p.op == 0u && p.hasLabels == 1u && t == 0u) {
    var rowLoss = BIG;
    if (label < p.C) { rowLoss = lse - layout.$.logits[base + label]; }
    layout.$.loss[row] = rowLoss;
  }
}
