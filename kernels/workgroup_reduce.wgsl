// Workgroup-wide reduction, appended to kernels whose workgroups are WG invocations in a line (WG a
// power of two, declared by the including kernel). Every invocation passes its partial value and
// gets back the combination of all of them: the sum, or the max when byMax. The tree halves the
// active invocations log2(WG) times in workgroup memory. Call it from uniform control flow.

var<workgroup> reduceScratch: array<f32, WG>;

fn workgroupReduce(t: u32, v: f32, byMax: bool) -> f32 {
  reduceScratch[t] = v;
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    workgroupBarrier();
    if (t < stride) {
      let other = reduceScratch[t + stride];
      reduceScratch[t] = select(reduceScratch[t] + other, max(reduceScratch[t], other), byMax);
    }
  }
  workgroupBarrier();
  let result = reduceScratch[0];
  workgroupBarrier(); // everyone has read the result before the scratch is reused
  return result;
}
