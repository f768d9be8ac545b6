/**
 * Shape inference: every op's output-shape rule, and the shapes of a whole graph.
 *
 * A rule checks its inputs and parameters and throws an InputError naming the node and both
 * shapes. Nothing here touches the GPU, so the ONNX importer and the model summary load no kernel
 * module; the executor records with `layers.ts` at the shapes found here. A new op adds one rule
 * to `SHAPE_RULES` and one layer to `LAYERS` (both tables list every op, so the type checker asks
 * for both).
 */
import type { Graph, GraphNode, NodeOf, Op } from "./graph.ts";
import { InputError } from "../io/input_error.ts";
import { sizeOf } from "../io/size_of.ts";
import { REDUCE_SHAPE_RULES } from "./shape_rules/reduce.ts";
import { MOVEMENT_SHAPE_RULES } from "./shape_rules/movement.ts";
import { ELEMENTWISE_SHAPE_RULES } from "./shape_rules/elementwise.ts";

/** Looks up a parameter's shape by name. */
export type ParamShape = (name: string) => readonly number[];

/** An op's output shape from its input shapes (batch axis first) and its parameters' shapes. */
type ShapeRule<N extends GraphNode> = (node: N, inputs: readonly number[][], paramShape: ParamShape) => number[];

function shapeError(node: GraphNode, message: string): InputError {
  return new InputError(`node "${node.name}" (${node.op}): ${message}`);
}

function fmt(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

function requireRank(node: GraphNode, shape: readonly number[], rank: number, what = "input"): void {
  if (shape.length !== rank) throw shapeError(node, `${what} ${fmt(shape)} must have ${rank} dims`);
}

function requireBias(node: GraphNode, bias: string | undefined, w: readonly number[], paramShape: ParamShape): void {
  if (!bias) return;
  const b = paramShape(bias);
  if (b.length !== 1 || b[0] !== w[0]) throw shapeError(node, `bias ${fmt(b)} must be [${w[0]}] for weight ${fmt(w)}`);
}

/** Throws `${op}: ${name} must be an integer >= ${min}, got ${value}` for the first field that is not. */
function requireIntegers(op: string, fields: [name: string, value: number, min: number][]): void {
  for (const [name, value, min] of fields) {
    if (!Number.isInteger(value) || value < min) {
      throw new Error(`${op}: ${name} must be an integer >= ${min}, got ${value}`);
    }
  }
}

/**
 * Output length of a sliding window along one axis; `span` is the window's extent in input pixels,
 * `pads` the padding before and after. The same rule and message as the kernels' `windowExtent`
 * (kernels/window.ts): in ceil mode a partial last window counts if it starts inside the input or
 * its leading padding.
 */
function windowLength(
  op: string,
  axis: string,
  size: number,
  [before, after]: readonly [number, number],
  span: { length: number; name: string },
  stride: number,
  ceil = false,
): number {
  const room = size + before + after - span.length;
  if (room < 0) {
    const padding = before === after ? `2 * padding ${before}` : `padding ${before} + ${after}`;
    throw new Error(
      `${op}: output ${axis} would be empty: input ${axis} ${size} + ${padding} is smaller than ` +
        `the ${span.name} ${axis} ${span.length}`,
    );
  }
  const windows = (ceil ? Math.ceil(room / stride) : Math.floor(room / stride)) + 1;
  const startsInPadding = ceil && (windows - 1) * stride >= size + before;
  return startsInPadding ? windows - 1 : windows;
}

/** [before, after] padding along an axis (0 height, 1 width) of a node with `padding` and `paddingEnd`. */
function padsAlong(node: { padding: [number, number]; paddingEnd?: [number, number] }, axis: number) {
  return [node.padding[axis], (node.paddingEnd ?? node.padding)[axis]] as const;
}

/**
 * Output height and width of a conv2d node over input `x` with weight `w` (both rank 4), with the
 * checks and messages of `conv2dOutputSize` (kernels/conv2d.ts), which the kernel keeps for its own
 * arguments.
 */
function conv2dOutputSize(node: NodeOf<"conv2d">, x: readonly number[], w: readonly number[]): [number, number] {
  const { stride, padding, dilation, groups } = node;
  requireIntegers("conv2d", [
    ["batch", x[0], 1],
    ["inChannels", x[1], 1],
    ["inHeight", x[2], 1],
    ["inWidth", x[3], 1],
    ["outChannels", w[0], 1],
    ["kernelHeight", w[2], 1],
    ["kernelWidth", w[3], 1],
    ["strideH", stride[0], 1],
    ["strideW", stride[1], 1],
    ["padH", padding[0], 0],
    ["padW", padding[1], 0],
    ["padBottom", padsAlong(node, 0)[1], 0],
    ["padRight", padsAlong(node, 1)[1], 0],
    ["dilationH", dilation[0], 1],
    ["dilationW", dilation[1], 1],
    ["groups", groups, 1],
  ]);
  if (x[1] % groups !== 0 || w[0] % groups !== 0) {
    throw new Error(
      `conv2d: inChannels ${x[1]} and outChannels ${w[0]} must both be divisible by groups ${groups}`,
    );
  }
  const extent = (axis: number, name: string) =>
    windowLength(
      "conv2d",
      name,
      x[2 + axis],
      padsAlong(node, axis),
      { length: (w[2 + axis] - 1) * dilation[axis] + 1, name: "dilated kernel" },
      stride[axis],
    );
  return [extent(0, "height"), extent(1, "width")];
}

/**
 * Output height and width of a pooling node over an inHeight x inWidth plane, with the checks and
 * messages of `poolOutputSize` (kernels/pool.ts).
 */
function poolOutputSize(node: NodeOf<"max_pool"> | NodeOf<"avg_pool">, x: readonly number[]): [number, number] {
  const stride = node.stride ?? node.kernel;
  const extent = (axis: number, name: string) => {
    const [size, kernel, dilation] = [x[2 + axis], node.kernel[axis], node.dilation?.[axis] ?? 1];
    const pads = padsAlong(node, axis);
    requireIntegers("pool", [
      [`input ${name}`, size, 1],
      [`kernel ${name}`, kernel, 1],
      [`stride (${name})`, stride[axis], 1],
      [`padding (${name})`, pads[0], 0],
      [`padding (${name}, end)`, pads[1], 0],
      [`dilation (${name})`, dilation, 1],
    ]);
    const span = (kernel - 1) * dilation + 1;
    const tooLarge = pads.find((p) => p >= span);
    if (tooLarge !== undefined) {
      throw new Error(`pool: padding ${tooLarge} must be smaller than the kernel ${name} ${span}`);
    }
    return windowLength("pool", name, size, pads, { length: span, name: "kernel" }, stride[axis], node.ceilMode);
  };
  return [extent(0, "height"), extent(1, "width")];
}

const conv2d: ShapeRule<NodeOf<"conv2d">> = (node, [x], paramShape) => {
  requireRank(node, x, 4);
  const w = paramShape(node.weight);
  requireRank(node, w, 4, `weight "${node.weight}"`);
  if (w[1] * node.groups !== x[1]) {
    throw shapeError(
      node,
      `input ${fmt(x)} has ${x[1]} channels but weight "${node.weight}" ${
        fmt(w)
      } with ${node.groups} group(s) expects ${w[1] * node.groups}`,
    );
  }
  requireBias(node, node.bias, w, paramShape);
  try {
    return [x[0], w[0], ...conv2dOutputSize(node, x, w)];
  } catch (e) {
    throw shapeError(node, `input ${fmt(x)}, weight ${fmt(w)}: ${(e as Error).message}`);
  }
};

/** A dense layer maps the last axis: [batch, K] or [batch, ..., K] (a token MLP on [B, L, C]). */
const dense: ShapeRule<NodeOf<"dense">> = (node, [x], paramShape) => {
  const w = paramShape(node.weight);
  requireRank(node, w, 2, `weight "${node.weight}"`);
  if (x.length < 2 || x.at(-1) !== w[1]) {
    const expected = x.length > 2 ? `[batch, ..., ${w[1]}]` : `[batch, ${w[1]}]`;
    throw shapeError(node, `input ${fmt(x)} does not match weight "${node.weight}" ${fmt(w)}: expected ${expected}`);
  }
  requireBias(node, node.bias, w, paramShape);
  return [...x.slice(0, -1), w[0]];
};

/** Elementwise ops of one input keep its shape. */
const sameShape: ShapeRule<GraphNode> = (_node, [x]) => x;

const add: ShapeRule<NodeOf<"add">> = (node, [a, b]) => {
  if (fmt(a) !== fmt(b)) throw shapeError(node, `inputs ${fmt(a)} and ${fmt(b)} must have the same shape`);
  return a;
};

const flatten: ShapeRule<NodeOf<"flatten">> = (_node, [x]) => [x[0], sizeOf(x.slice(1))];

const reshape: ShapeRule<NodeOf<"reshape">> = (node, [x]) => {
  const rest = sizeOf(x.slice(1));
  const known = sizeOf(node.shape.filter((d) => d !== -1));
  const free = node.shape.filter((d) => d === -1).length;
  if (free > 1) throw shapeError(node, `shape ${fmt(node.shape)} has more than one -1`);
  const shape = node.shape.map((d) => (d === -1 ? rest / known : d));
  if (shape.some((d) => !Number.isInteger(d)) || sizeOf(shape) !== rest) {
    throw shapeError(node, `cannot reshape input ${fmt(x)} to [batch, ${node.shape.join(", ")}]`);
  }
  return [x[0], ...shape];
};

const batchNorm: ShapeRule<NodeOf<"batch_norm">> = (node, [x], paramShape) => {
  if (x.length < 2) throw shapeError(node, `input ${fmt(x)} needs a channel axis`);
  for (const name of [node.scale, node.shift, node.mean, node.variance]) {
    const p = paramShape(name);
    if (p.length !== 1 || p[0] !== x[1]) {
      throw shapeError(node, `parameter "${name}" ${fmt(p)} must be [${x[1]}] for input ${fmt(x)}`);
    }
  }
  return x;
};

const pool: ShapeRule<NodeOf<"max_pool"> | NodeOf<"avg_pool">> = (node, [x]) => {
  requireRank(node, x, 4);
  try {
    return [x[0], x[1], ...poolOutputSize(node, x)];
  } catch (e) {
    throw shapeError(node, `input ${fmt(x)}: ${(e as Error).message}`);
  }
};

const globalAvgPool: ShapeRule<NodeOf<"global_avg_pool">> = (node, [x]) => {
  requireRank(node, x, 4);
  return [x[0], x[1]];
};

/** Every op's shape rule. */
const SHAPE_RULES: { [O in Op]: ShapeRule<NodeOf<O>> } = {
  conv2d,
  dense,
  relu: sameShape,
  clip: sameShape,
  leaky_relu: sameShape,
  sigmoid: sameShape,
  add,
  flatten,
  reshape,
  batch_norm: batchNorm,
  max_pool: pool,
  avg_pool: pool,
  global_avg_pool: globalAvgPool,
  ...REDUCE_SHAPE_RULES,
  ...MOVEMENT_SHAPE_RULES,
  ...ELEMENTWISE_SHAPE_RULES,
};

/**
 * The output shape of one node from its inputs' shapes (batch axis first) and its parameters'
 * shapes; a mismatch is an InputError naming the node and both shapes.
 *
 * @example
 * ```ts
 * import type { GraphNode } from "./graph.ts";
 * const node: GraphNode = { name: "fc", op: "dense", inputs: ["flat"], weight: "fc.w" };
 * outputShape(node, [[4, 6]], () => [10, 6]); // [4, 10]
 * ```
 */
export function outputShape(node: GraphNode, inputs: readonly number[][], paramShape: ParamShape): number[] {
  return (SHAPE_RULES[node.op] as ShapeRule<GraphNode>)(node, inputs, paramShape);
}

/**
 * The shape of every value of a graph at a batch size, from the input's and the parameters'
 * shapes; a mismatch is an InputError naming the node and both shapes.
 *
 * @example
 * ```ts
 * import type { ModelFiles } from "./model_files.ts";
 * declare const model: ModelFiles;
 * const shapes = graphShapes(model.graph, (name) => model.weights.get(name)!.shape, 1);
 * console.log(shapes.get(model.graph.output)); // [1, classes]
 * ```
 */
export function graphShapes(graph: Graph, paramShape: ParamShape, batch: number): Map<string, number[]> {
  const shapes = new Map([[graph.input.name, [batch, ...graph.input.shape]]]);
  for (const node of graph.nodes) {
    shapes.set(node.name, outputShape(node, node.inputs.map((i) => shapes.get(i)!), paramShape));
  }
  return shapes;
}
