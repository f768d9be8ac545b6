/**
 * The merged-axes plan the binary kernels index by, for operands broadcast numpy/ONNX style to an
 * output shape.
 *
 * @example
 * ```ts
 * broadcastPlan([2, 8, 5, 5], [2, 8, 5, 5], [8, 1, 1]); // { dims: [2, 8, 25], a: [true, true, true], b: [false, true, false] }
 * ```
 */

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

/**
 * Plans `out = f(a, b)`; null unless each operand, aligned at its last axis, has at most out's
 * rank and on every axis out's size or 1, and every axis of out is spanned by one of them.
 */
export function broadcastPlan(
  out: readonly number[],
  a: readonly number[],
  b: readonly number[],
): BroadcastPlan | null {
  const aligned = (s: readonly number[], k: number) => s[k - out.length + s.length] ?? 1;
  const fits = (s: readonly number[]) => s.length <= out.length && out.every((d, k) => [1, d].includes(aligned(s, k)));
  if (!fits(a) || !fits(b)) return null;
  const plan: BroadcastPlan = { dims: [], a: [], b: [] };
  for (const [k, size] of out.entries()) {
    if (size === 1) continue;
    const spansA = aligned(a, k) === size;
    const spansB = aligned(b, k) === size;
    if (!spansA && !spansB) return null;
    const last = plan.dims.length - 1;
    if (last >= 0 && plan.a[last] === spansA && plan.b[last] === spansB) {
      plan.dims[last] *= size;
    } else {
      plan.dims.push(size);
      plan.a.push(spansA);
      plan.b.push(spansB);
    }
  }
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
