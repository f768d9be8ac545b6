/**
 * Shape rules of the elementwise group (graph_ops/elementwise.ts): unary nodes keep their input's
 * shape; a binary node's output is its operands' numpy/ONNX broadcast, and a constant operand may
 * not grow the input it meets (its batch axis above all).
 *
 * @example
 * ```ts
 * import type { NodeOf } from "../graph.ts";
 * const node = { name: "se", op: "binary", fn: "mul", inputs: ["x", "s"], constantFirst: false } as NodeOf<"binary">;
 * ELEMENTWISE_SHAPE_RULES.binary(node, [[2, 8, 5, 5], [2, 8, 1, 1]], () => []); // [2, 8, 5, 5]
 * ```
 */
import { InputError } from "../../io/input_error.ts";
import type { GraphNode, NodeOf } from "../graph.ts";

type ParamShape = (name: string) => readonly number[];

/**
 * The shape two operands broadcast to, numpy/ONNX style (aligned at their last axes; a 1
 * stretches), or null where some axis has two sizes other than 1.
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

function fail(node: GraphNode, message: string): never {
  throw new InputError(`node "${node.name}" (${node.op}): ${message}`);
}

const same = (_node: GraphNode, [x]: readonly number[][]) => x;

function binary(node: NodeOf<"binary">, inputs: readonly number[][], paramShape: ParamShape): number[] {
  const expected = node.constant ? 1 : 2;
  if (inputs.length !== expected) {
    fail(node, `takes ${expected} input(s) ${node.constant ? "with" : "without"} a constant, got ${inputs.length}`);
  }
  const c = node.constant ? paramShape(node.constant) : undefined;
  const [a, b] = !c ? inputs : node.constantFirst ? [c, inputs[0]] : [inputs[0], c];
  const out = broadcastShape(a, b);
  if (!out) fail(node, `operands [${a.join(", ")}] and [${b.join(", ")}] do not broadcast`);
  if (c && out.join() !== inputs[0].join()) {
    fail(node, `constant "${node.constant}" [${c.join(", ")}] would grow input [${inputs[0].join(", ")}]`);
  }
  return out;
}

/** The group's shape rules, by op. */
export const ELEMENTWISE_SHAPE_RULES = {
  unary: same,
  hard_sigmoid: same,
  pow: same,
  binary,
};
