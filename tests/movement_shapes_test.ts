/**
 * Shape rules of the movement ops: batch-dependent entries resolve at any batch, and a node that
 * does not fit its input is an InputError naming the node and both shapes.
 */
import assert from "node:assert/strict";
import type { GraphNode } from "../pipeline/model/graph.ts";
import { InputError } from "../pipeline/io/input_error.ts";
import { outputShape } from "../pipeline/model/shapes.ts";

const shapeOf = (node: GraphNode, inputs: number[][], param: number[] = []) => outputShape(node, inputs, () => param);

function refuses(node: GraphNode, inputs: number[][], pattern: RegExp): void {
  assert.throws(() => shapeOf(node, inputs), (e: Error) => e instanceof InputError && pattern.test(e.message));
}

Deno.test("movement shapes: a -k entry is k times the batch, for a view and for a constant", () => {
  const windows: GraphNode = { name: "w", op: "view", inputs: ["x"], shape: [-4, 49, 8] };
  for (const batch of [1, 2, 5]) {
    assert.deepEqual(shapeOf(windows, [[batch, 14, 14, 8]]), [4 * batch, 49, 8]);
    const token: GraphNode = { name: "cls", op: "constant", inputs: ["image"], tensor: "t", shape: [-1, 1, 6] };
    assert.deepEqual(shapeOf(token, [[batch, 3, 4, 4]], [1, 1, 6]), [batch, 1, 6]);
  }
  // 3 windows per image do not divide 4 values per image into 49 x 8.
  refuses(
    { name: "w", op: "view", inputs: ["x"], shape: [-3, 49, 8] },
    [[2, 14, 14, 8]],
    /"w" \(view\): cannot view 3136 values/,
  );
  refuses({ name: "w", op: "view", inputs: ["x"], shape: [-1, -1, 8] }, [[2, 8]], /more than one batch-dependent/);
});

Deno.test("movement shapes: permute, slice, pad, expand and concat check their input", () => {
  assert.deepEqual(shapeOf({ name: "p", op: "permute", inputs: ["x"], perm: [0, 3, 1, 2] }, [[2, 3, 4, 5]]), [
    2,
    5,
    3,
    4,
  ]);
  refuses({ name: "p", op: "permute", inputs: ["x"], perm: [0, 1, 1] }, [[2, 3, 4]], /not a permutation/);
  const slice: GraphNode = { name: "s", op: "slice", inputs: ["x"], axes: [2], starts: [4], counts: [3], steps: [-2] };
  assert.deepEqual(shapeOf(slice, [[2, 3, 5]]), [2, 3, 3]);
  refuses(
    { ...slice, counts: [4] } as GraphNode,
    [[2, 3, 5]],
    /"s" \(slice\): 4 element\(s\) from 4 every -2 along axis 2 leave input \[2, 3, 5\]/,
  );
  assert.deepEqual(shapeOf({ name: "d", op: "pad", inputs: ["x"], pads: [0, 1, -1, 0, 2, 0], value: 0 }, [[2, 3, 4]]), [
    2,
    6,
    3,
  ]);
  refuses({ name: "d", op: "pad", inputs: ["x"], pads: [0, -3, 0, 0], value: 0 }, [[2, 3]], /crop input \[2, 3\] away/);
  assert.deepEqual(shapeOf({ name: "e", op: "expand", inputs: ["x"], shape: [2, 1, 3, 4] }, [[5, 1, 1]]), [2, 5, 3, 4]);
  refuses({ name: "e", op: "expand", inputs: ["x"], shape: [1, 3] }, [[2, 2]], /cannot broadcast \[2, 2\] to \[1, 3\]/);
  assert.deepEqual(shapeOf({ name: "c", op: "concat", inputs: ["a", "b"], axis: 2 }, [[2, 3, 1], [2, 3, 4]]), [
    2,
    3,
    5,
  ]);
  assert.deepEqual(shapeOf({ name: "c", op: "concat", inputs: ["a", "b"] }, [[2, 1, 4], [2, 3, 4]]), [2, 4, 4]);
  refuses(
    { name: "c", op: "concat", inputs: ["a", "b"], axis: 2 },
    [[2, 3, 1], [2, 2, 4]],
    /must agree on every axis but axis 2/,
  );
});
