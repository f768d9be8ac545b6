/**
 * Shape rules of the reduce group (graph_ops/reduce.ts): reductions, softmax, layer and instance
 * norm, matmul between activations. No GPU import: the importer and the summary use these.
 *
 * @example
 * ```ts
 * import type { GraphNode } from "../graph.ts";
 * const node = { name: "mm", op: "matmul", inputs: ["q", "k"], transA: false, transB: true } as GraphNode;
 * REDUCE_SHAPE_RULES.matmul(node as never, [[2, 3, 5, 4], [2, 3, 6, 4]], () => []); // [2, 3, 5, 6]
 * ```
 */
import { InputError } from "../../io/input_error.ts";
import type { GraphNode, NodeOf } from "../graph.ts";

type ParamShape = (name: string) => readonly number[];
type Rule<N extends GraphNode> = (node: N, inputs: readonly number[][], paramShape: ParamShape) => number[];

function fail(node: GraphNode, message: string): InputError {
  return new InputError(`node "${node.name}" (${node.op}): ${message}`);
}

const fmt = (shape: readonly number[]) => `[${shape.join(", ")}]`;

function requireAxis(node: GraphNode, x: readonly number[], axis: number): void {
  if (axis >= x.length) throw fail(node, `axis ${axis} is not an axis of input ${fmt(x)}`);
}

const reduce: Rule<NodeOf<"reduce">> = (node, [x]) => {
  for (const axis of node.axes) requireAxis(node, x, axis);
  if (new Set(node.axes).size !== node.axes.length) throw fail(node, `axes [${node.axes}] repeat an axis`);
  const reduced = new Set(node.axes);
  return node.keepdims ? x.map((d, i) => (reduced.has(i) ? 1 : d)) : x.filter((_, i) => !reduced.has(i));
};

const softmax: Rule<NodeOf<"softmax">> = (node, [x]) => {
  requireAxis(node, x, node.axis);
  return [...x];
};

function requireParam(node: GraphNode, paramShape: ParamShape, name: string | undefined, expected: number[]): void {
  if (!name) return;
  const p = paramShape(name);
  if (fmt(p) !== fmt(expected)) throw fail(node, `parameter "${name}" ${fmt(p)} must be ${fmt(expected)}`);
}

const layerNorm: Rule<NodeOf<"layer_norm">> = (node, [x], paramShape) => {
  requireAxis(node, x, node.axis);
  if (node.axis === 0) throw fail(node, "axis 0 would normalise across the batch");
  const normalized = x.slice(node.axis);
  const p = paramShape(node.scale);
  // ONNX lets scale and bias broadcast; a per-position vector of the normalised axes is what exporters write.
  const flat = normalized.reduce((a, b) => a * b, 1);
  if (
    p.reduce((a, b) => a * b, 1) !== flat || fmt(p.filter((d) => d !== 1)) !== fmt(normalized.filter((d) => d !== 1))
  ) {
    throw fail(node, `scale "${node.scale}" ${fmt(p)} must have the normalised axes' shape ${fmt(normalized)}`);
  }
  if (node.bias) {
    const b = paramShape(node.bias);
    if (fmt(b) !== fmt(p)) throw fail(node, `bias "${node.bias}" ${fmt(b)} must match scale ${fmt(p)}`);
  }
  return [...x];
};

const instanceNorm: Rule<NodeOf<"instance_norm">> = (node, [x], paramShape) => {
  if (x.length < 3) throw fail(node, `input ${fmt(x)} needs [N, C, spatial...]`);
  requireParam(node, paramShape, node.scale, [x[1]]);
  requireParam(node, paramShape, node.bias, [x[1]]);
  return [...x];
};

/**
 * The operands of a matmul as rank >= 2 shapes (a rank-1 A is a row [1, K], a rank-1 B a column
 * [K, 1]), each transposed as the node says, and the output shape (ONNX MatMul: a rank-1
 * operand's added axis is dropped again).
 */
export function matmulShapes(
  node: NodeOf<"matmul">,
  a: readonly number[],
  b: readonly number[],
): { a: number[]; b: number[]; out: number[] } {
  const a2 = a.length === 1 ? [1, a[0]] : [...a];
  const b2 = b.length === 1 ? [b[0], 1] : [...b];
  const swap = (s: number[]) => [...s.slice(0, -2), s.at(-1)!, s.at(-2)!];
  const [opA, opB] = [node.transA ? swap(a2) : a2, node.transB ? swap(b2) : b2];
  if (opA.at(-1) !== opB.at(-2)) {
    throw fail(node, `inputs ${fmt(a)} and ${fmt(b)} disagree on the inner dim (${opA.at(-1)} vs ${opB.at(-2)})`);
  }
  const [batchA, batchB] = [opA.slice(0, -2), opB.slice(0, -2)];
  const rank = Math.max(batchA.length, batchB.length);
  const batch = Array.from({ length: rank }, (_, i) => {
    const x = batchA[batchA.length - rank + i] ?? 1;
    const y = batchB[batchB.length - rank + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) throw fail(node, `batch dims of ${fmt(a)} and ${fmt(b)} do not broadcast`);
    return Math.max(x, y);
  });
  const out = [...batch, ...(a.length === 1 ? [] : [opA.at(-2)!]), ...(b.length === 1 ? [] : [opB.at(-1)!])];
  return { a: a2, b: b2, out };
}

const matmul: Rule<NodeOf<"matmul">> = (node, [a, b]) => matmulShapes(node, a, b).out;

/** The group's shape rules, spread into shapes.ts's table. */
export const REDUCE_SHAPE_RULES: {
  reduce: Rule<NodeOf<"reduce">>;
  softmax: Rule<NodeOf<"softmax">>;
  layer_norm: Rule<NodeOf<"layer_norm">>;
  instance_norm: Rule<NodeOf<"instance_norm">>;
  matmul: Rule<NodeOf<"matmul">>;
} = { reduce, softmax, layer_norm: layerNorm, instance_norm: instanceNorm, matmul };

/**
 * FLOPs of one image through a node of the group (the model summary's count): a matmul's
 * multiply-adds over its inner dim, a reduction's one per input value, about 5 per value for
 * softmax (max, exp, sum, divide) and 8 for a normalisation (two passes, then the affine).
 */
export function reduceGroupFlops(
  node: NodeOf<"reduce" | "softmax" | "layer_norm" | "instance_norm" | "matmul">,
  inputs: readonly number[][],
  out: readonly number[],
): number {
  const elements = out.reduce((a, b) => a * b, 1);
  switch (node.op) {
    case "matmul": {
      const a = inputs[0];
      const inner = a.length === 1 ? a[0] : node.transA ? a.at(-2)! : a.at(-1)!;
      return 2 * inner * elements;
    }
    case "reduce":
      return inputs[0].reduce((a, b) => a * b, 1);
    case "softmax":
      return 5 * elements;
    default:
      return 8 * elements;
  }
}
