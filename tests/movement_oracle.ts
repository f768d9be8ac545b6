/**
 * Float64 reference for the movement ops, written by coordinates (each output element's input
 * coordinates computed axis by axis), independent of the kernels' stride arithmetic. Backward is
 * the adjoint of the forward's element map, found by running the forward on element indices.
 */
import type { GraphNode } from "../pipeline/model/graph.ts";

export interface MovementValue {
  shape: number[];
  data: Float64Array;
}

function strides(shape: readonly number[]): number[] {
  const out = shape.map(() => 1);
  for (let a = shape.length - 2; a >= 0; a--) out[a] = out[a + 1] * shape[a + 1];
  return out;
}

function coords(index: number, shape: readonly number[]): number[] {
  const c = new Array<number>(shape.length);
  for (let a = shape.length - 1; a >= 0; a--) {
    c[a] = index % shape[a];
    index = Math.floor(index / shape[a]);
  }
  return c;
}

function indexOf(c: readonly number[], shape: readonly number[]): number {
  const s = strides(shape);
  return c.reduce((sum, v, a) => sum + v * s[a], 0);
}

/** Builds an output of `shape` whose element at c is `read(c)` (an input element index, or -1 for `fill`). */
function gather(x: MovementValue, shape: number[], read: (c: number[]) => number, fill = 0): MovementValue {
  const size = shape.reduce((a, b) => a * b, 1);
  const data = new Float64Array(size);
  for (let i = 0; i < size; i++) {
    const from = read(coords(i, shape));
    data[i] = from < 0 ? fill : x.data[from];
  }
  return { shape, data };
}

/** `shape` with its -k entry resolved from the element count (or from `batch`, for a constant). */
export function resolveShape(shape: readonly number[], size: number | null, batch = 1): number[] {
  if (size === null) return shape.map((d) => (d < 0 ? -d * batch : d));
  const known = shape.filter((d) => d > 0).reduce((a, b) => a * b, 1);
  return shape.map((d) => (d < 0 ? size / known : d));
}

function broadcastTo(x: MovementValue, shape: number[]): MovementValue {
  const aligned = [...new Array(shape.length - x.shape.length).fill(1), ...x.shape];
  return gather(x, shape, (c) => indexOf(c.map((v, a) => (aligned[a] === 1 ? 0 : v)), aligned));
}

/** The forward of one movement node (view, permute, slice, pad, expand, concat on any axis). */
export function movementOracle(node: GraphNode, inputs: MovementValue[], param?: MovementValue): MovementValue {
  const [x] = inputs;
  switch (node.op) {
    case "view":
      return { shape: resolveShape(node.shape, x.data.length), data: x.data };
    case "permute": {
      const shape = node.perm.map((p) => x.shape[p]);
      return gather(x, shape, (c) => {
        const at = new Array<number>(x.shape.length);
        node.perm.forEach((p, j) => (at[p] = c[j]));
        return indexOf(at, x.shape);
      });
    }
    case "slice": {
      const shape = [...x.shape];
      node.axes.forEach((a, i) => (shape[a] = node.counts[i]));
      return gather(x, shape, (c) => {
        const at = [...c];
        node.axes.forEach((a, i) => (at[a] = node.starts[i] + c[a] * node.steps[i]));
        return indexOf(at, x.shape);
      });
    }
    case "pad": {
      const rank = x.shape.length;
      const shape = x.shape.map((d, a) => d + node.pads[a] + node.pads[a + rank]);
      return gather(x, shape, (c) => {
        const at = c.map((v, a) => v - node.pads[a]);
        return at.some((v, a) => v < 0 || v >= x.shape[a]) ? -1 : indexOf(at, x.shape);
      }, node.value);
    }
    case "expand":
      return broadcastTo(
        x,
        node.shape.map((d, j) =>
          Math.max(d, [...new Array(node.shape.length - x.shape.length).fill(1), ...x.shape][j])
        ),
      );
    case "constant":
      return broadcastTo(param!, resolveShape(node.shape, null, x.shape[0]));
    case "concat": {
      const axis = node.axis ?? 1;
      const shape = [...x.shape];
      shape[axis] = inputs.reduce((sum, v) => sum + v.shape[axis], 0);
      const size = shape.reduce((a, b) => a * b, 1);
      const data = new Float64Array(size);
      for (let i = 0; i < size; i++) {
        const c = coords(i, shape);
        let k = 0;
        while (c[axis] >= inputs[k].shape[axis]) c[axis] -= inputs[k++].shape[axis];
        data[i] = inputs[k].data[indexOf(c, inputs[k].shape)];
      }
      return { shape, data };
    }
    default:
      throw new Error(`movement oracle: ${node.op} is not a movement op`);
  }
}

/**
 * Gradients of the inputs (and of the constant's parameter) given dy: each output element's
 * gradient added to the input element the forward copied it from.
 */
export function movementBackwardOracle(
  node: GraphNode,
  inputs: MovementValue[],
  dy: Float64Array,
  param?: MovementValue,
): Float64Array[] {
  const tagged = (v: MovementValue, k: number) => ({ shape: v.shape, data: v.data.map((_, i) => k * 1e9 + i) });
  const sources = node.op === "constant" ? [param!] : inputs;
  const traced = movementOracle(
    node.op === "pad" ? { ...node, value: -1 } : node,
    node.op === "constant" ? inputs : sources.map(tagged),
    node.op === "constant" ? tagged(param!, 0) : undefined,
  );
  const grads = sources.map((v) => new Float64Array(v.data.length));
  traced.data.forEach((tag, o) => {
    if (tag < 0) return;
    grads[Math.floor(tag / 1e9)][tag % 1e9] += dy[o];
  });
  return grads;
}
