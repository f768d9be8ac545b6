/**
 * What a forward pass must keep for the backward that follows: per op, which of a node's values
 * its backward reads (its inputs, its output), given whether parameter gradients are wanted and
 * whether batch norm runs in training mode. The executor frees every other value at its last
 * forward use, as it does in inference, so a tape for an input gradient holds far less than every
 * activation (a convolution's input is read only for its weight gradient, a pool's or an add's
 * never). An op missing from the table keeps everything, which is always correct.
 *
 * @example
 * ```ts
 * import type { Graph } from "./graph.ts";
 * declare const graph: Graph;
 * const kept = tapeValues(graph, { params: false, training: false });
 * ```
 */
import type { Graph, GraphNode, Op } from "./graph.ts";

/** What a tape is for: parameter gradients too, or only the input gradient; training mode or not. */
export interface TapePurpose {
  params: boolean;
  training: boolean;
}

type Reads = (node: GraphNode, purpose: TapePurpose) => { inputs: boolean; output: boolean };

const nothing: Reads = () => ({ inputs: false, output: false });
const input: Reads = () => ({ inputs: true, output: false });
const inputForParams: Reads = (_node, { params }) => ({ inputs: params, output: false });

/**
 * A binary node's backward reads its inputs unless each partial derivative is a constant or the
 * other operand's: add and sub never; with a constant operand, mul unless the constant's gradient
 * (dy times x) is wanted, and div x / c likewise (dy / c); max, min, c / x and x * y always.
 */
const binaryReads: Reads = (node, { params }) => {
  if (node.op !== "binary") return { inputs: true, output: false };
  const { fn, constant, constantFirst } = node;
  const free = fn === "add" || fn === "sub" ||
    (constant !== undefined && !params && (fn === "mul" || (fn === "div" && !constantFirst)));
  return { inputs: !free, output: false };
};

/** The values each op's backward (layers.ts) reads. */
const BACKWARD_READS: Partial<Record<Op, Reads>> = {
  conv2d: inputForParams,
  dense: inputForParams,
  relu: input,
  clip: input,
  leaky_relu: input,
  sigmoid: () => ({ inputs: false, output: true }),
  add: nothing,
  concat: nothing,
  flatten: nothing,
  reshape: nothing,
  // Batch statistics depend on x in training; the scale's gradient reads x.
  batch_norm: (_node, { params, training }) => ({ inputs: params || training, output: false }),
  max_pool: nothing, // its argmax is saved apart
  avg_pool: nothing,
  global_avg_pool: nothing,
  // Elementwise (layers/elementwise.ts): the derivative is taken at x.
  unary: input,
  hard_sigmoid: input,
  pow: input,
  binary: binaryReads,
  // Movement (layers/movement.ts): strided copies of the output gradient, by shape alone.
  view: nothing,
  permute: nothing,
  slice: nothing,
  pad: nothing,
  expand: nothing,
  constant: nothing,
  // Reduce (layers/reduce.ts): a max's argmax is saved apart; softmax's derivative is taken at its output.
  reduce: nothing,
  softmax: () => ({ inputs: false, output: true }),
  layer_norm: input, // with its saved statistics
  instance_norm: input,
  matmul: input, // each operand's gradient is the output gradient times the other operand
};

/** The names of the values a backward for `purpose` reads (the graph output always among them). */
export function tapeValues(graph: Graph, purpose: TapePurpose): Set<string> {
  const kept = new Set([graph.output]);
  for (const node of graph.nodes) {
    const reads = BACKWARD_READS[node.op] ?? (() => ({ inputs: true, output: true }));
    const { inputs, output } = reads(node, purpose);
    if (inputs) node.inputs.forEach((name) => kept.add(name));
    if (output) kept.add(node.name);
  }
  return kept;
}

/**
 * A value a backward reads from the tape, or an Error saying the tape did not keep it: the table
 * above then lists the op as not reading what its backward (layers.ts) reads.
 *
 * @example
 * ```ts
 * import type { GraphNode } from "./graph.ts";
 * declare const node: GraphNode, x: number | undefined;
 * const value = kept(x, node, "input"); // x, or an Error naming the node
 * ```
 */
export function kept<T>(value: T | undefined, node: GraphNode, what: string): T {
  if (value === undefined) {
    throw new Error(`${node.op} node "${node.name}": its backward reads its ${what}, which the tape did not keep`);
  }
  return value;
}
