/**
 * Shape rules of the movement ops (graph_ops/movement.ts) and of concat on any axis. Each checks
 * its node against the input shapes and throws an InputError naming the node and the shapes.
 *
 * @example
 * ```ts
 * import type { NodeOf } from "../graph.ts";
 * const node: NodeOf<"view"> = { name: "windows", op: "view", inputs: ["x"], shape: [-4, 49, 8] };
 * MOVEMENT_SHAPE_RULES.view(node, [[2, 14, 14, 8]], () => []); // [8, 49, 8]
 * ```
 */
import type { GraphNode, NodeOf } from "../graph.ts";
import { InputError } from "../../io/input_error.ts";
import { sizeOf } from "../../io/size_of.ts";

type Rule<N extends GraphNode> = (
  node: N,
  inputs: readonly number[][],
  paramShape: (name: string) => readonly number[],
) => number[];

function fail(node: GraphNode, message: string): InputError {
  return new InputError(`node "${node.name}" (${node.op}): ${message}`);
}

function fmt(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

/**
 * A shape with its one `-k` entry (k times the batch) resolved: from `size`, the element count the
 * result must have, or from `batch` when the size is free.
 */
function resolveBatchEntry(
  node: GraphNode,
  shape: readonly number[],
  known: { size: number } | { batch: number },
): number[] {
  const free = shape.filter((d) => d < 0).length;
  if (free > 1) throw fail(node, `shape ${fmt(shape)} has more than one batch-dependent (negative) entry`);
  if ("batch" in known) return shape.map((d) => (d < 0 ? -d * known.batch : d));
  const rest = sizeOf(shape.filter((d) => d > 0));
  const factor = shape.find((d) => d < 0);
  const entry = known.size / rest;
  if (!Number.isInteger(entry) || (factor === undefined ? rest !== known.size : entry % -factor !== 0)) {
    throw fail(node, `cannot view ${known.size} values as ${fmt(shape)} (negative: k times the batch)`);
  }
  return shape.map((d) => (d < 0 ? entry : d));
}

/** The axes of an input whose rank must be `rank`. */
function requireRank(node: GraphNode, x: readonly number[], rank: number, what: string): void {
  if (x.length !== rank) throw fail(node, `input ${fmt(x)} has ${x.length} axes but ${what} needs ${rank}`);
}

/** Numpy broadcasting of `x` to `shape` (aligned on the right; 1 keeps the other side's extent). */
function broadcast(node: GraphNode, x: readonly number[], shape: readonly number[]): number[] {
  if (x.length > shape.length) throw fail(node, `cannot broadcast ${fmt(x)} to fewer axes ${fmt(shape)}`);
  const aligned = [...new Array(shape.length - x.length).fill(1), ...x];
  return shape.map((d, j) => {
    const a = aligned[j];
    if (a !== d && a !== 1 && d !== 1) throw fail(node, `cannot broadcast ${fmt(x)} to ${fmt(shape)}`);
    return Math.max(a, d);
  });
}

const view: Rule<NodeOf<"view">> = (node, [x]) => resolveBatchEntry(node, node.shape, { size: sizeOf(x) });

const permute: Rule<NodeOf<"permute">> = (node, [x]) => {
  requireRank(node, x, node.perm.length, `perm ${fmt(node.perm)}`);
  if ([...node.perm].sort((a, b) => a - b).some((p, i) => p !== i)) {
    throw fail(node, `perm ${fmt(node.perm)} is not a permutation of the input's axes`);
  }
  return node.perm.map((p) => x[p]);
};

const slice: Rule<NodeOf<"slice">> = (node, [x]) => {
  const { axes, starts, counts, steps } = node;
  if (starts.length !== axes.length || counts.length !== axes.length || steps.length !== axes.length) {
    throw fail(node, "axes, starts, counts and steps must have one entry each per sliced axis");
  }
  const out = [...x];
  axes.forEach((axis, i) => {
    const last = starts[i] + (counts[i] - 1) * steps[i];
    if (axis >= x.length || new Set(axes).size !== axes.length || starts[i] >= x[axis] || last < 0 || last >= x[axis]) {
      throw fail(
        node,
        `${counts[i]} element(s) from ${starts[i]} every ${steps[i]} along axis ${axis} leave input ${fmt(x)}`,
      );
    }
    out[axis] = counts[i];
  });
  return out;
};

const pad: Rule<NodeOf<"pad">> = (node, [x]) => {
  requireRank(node, x, node.pads.length / 2, `pads ${fmt(node.pads)}`);
  const out = x.map((d, a) => d + node.pads[a] + node.pads[a + x.length]);
  if (out.some((d) => d < 1)) throw fail(node, `pads ${fmt(node.pads)} crop input ${fmt(x)} away`);
  return out;
};

const expand: Rule<NodeOf<"expand">> = (node, [x]) => broadcast(node, x, node.shape);

const constant: Rule<NodeOf<"constant">> = (node, [reference], paramShape) => {
  const shape = resolveBatchEntry(node, node.shape, { batch: reference[0] });
  return broadcast(node, paramShape(node.tensor), shape);
};

/** Joins along the node's axis (the channel axis when absent); every other axis must agree. */
const concat: Rule<NodeOf<"concat">> = (node, inputs) => {
  const axis = node.axis ?? 1;
  const [first] = inputs;
  const mismatch = inputs.some((x) => x.length !== first.length || x.some((d, i) => i !== axis && d !== first[i]));
  if (axis >= first.length || mismatch) {
    throw fail(node, `inputs ${inputs.map(fmt).join(", ")} must agree on every axis but axis ${axis}`);
  }
  return first.map((d, i) => (i === axis ? inputs.reduce((sum, x) => sum + x[axis], 0) : d));
};

/** The movement ops' rules, for shapes.ts's table. */
export const MOVEMENT_SHAPE_RULES = { view, permute, slice, pad, expand, constant, concat };
