/**
 * numpy/ONNX broadcasting of two shapes, and the merged-axes plan the binary kernels index by. Pure
 * arithmetic on shapes (no GPU), so shape inference can use it without loading a kernel.
 *
 * @example
 * ```ts
 * broadcastShape([2, 8, 5, 5], [8, 1, 1]); // [2, 8, 5, 5]
 * broadcastPlan([2, 8, 5, 5], [2, 8, 5, 5], [8, 1, 1]); // { dims: [2, 8, 25], a: [true, true, true], b: [false, true, false] }
 * ```
 */

/**
 * The shape two operands broadcast to (aligned at their last axes; a 1 stretches), or null where
 * some axis has two sizes other than 1.
 */
export function broadcastShape(a: readonly number[], b: readonly number[]): number[] | null {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let k = 0; k < rank; k++) {
    const da = a[k - rank + a.length] ?? 1;
    const db = b[k - rank + b.length] ?? 1;
    if (da !== db && da !== 1 && db !== 1) return null;
    out.push(da === 1 ? db : da);
  }
  return out;
}

/**
 * The output's axes with neighbours that broadcast alike merged (axes of size 1 dropped): `dims`
 * are the merged sizes, and `a[k]` / `b[k]` say whether that operand spans merged axis k (else it
 * repeats along it). A broadcast-free pair is a single axis.
 */
export interface BroadcastPlan {
  dims: number[];
  a: boolean[];
  b: boolean[];
}

/** Plans `out = f(a, b)` for operand shapes that broadcast to `out` (see broadcastShape). */
export function broadcastPlan(out: readonly number[], a: readonly number[], b: readonly number[]): BroadcastPlan {
  const plan: BroadcastPlan = { dims: [], a: [], b: [] };
  out.forEach((size, k) => {
    if (size === 1) return;
    const spansA = (a[k - out.length + a.length] ?? 1) === size;
    const spansB = (b[k - out.length + b.length] ?? 1) === size;
    const last = plan.dims.length - 1;
    if (last >= 0 && plan.a[last] === spansA && plan.b[last] === spansB) {
      plan.dims[last] *= size;
      return;
    }
    plan.dims.push(size);
    plan.a.push(spansA);
    plan.b.push(spansB);
  });
  if (plan.dims.length === 0) return { dims: [1], a: [true], b: [true] };
  return plan;
}

/** Row-major strides over `dims` of an operand that spans the axes marked in `spans` (0 elsewhere). */
export function spanStrides(dims: readonly number[], spans: readonly boolean[]): number[] {
  const strides = new Array<number>(dims.length).fill(0);
  let step = 1;
  for (let k = dims.length - 1; k >= 0; k--) {
    if (!spans[k]) continue;
    strides[k] = step;
    step *= dims[k];
  }
  return strides;
}
