import assert from "node:assert/strict";
import { type GraphNode, parseGraph } from "../pipeline/model/graph.ts";
import { InputError } from "../pipeline/io/input_error.ts";
import { graphShapes, outputShape } from "../pipeline/model/shapes.ts";

/** Parameter shapes by name, as a weights file would give them. */
const params = (shapes: Record<string, number[]>) => (name: string) => shapes[name];

/** A one-input node as the graph parser leaves it, with its op's defaults filled in. */
function node(name: string, fields: Record<string, unknown>): GraphNode {
  const graph = parseGraph({
    format: "convnet-graph",
    version: 1,
    input: { name: "x", shape: [1, 1, 1] },
    nodes: [{ name, inputs: ["x"], ...fields }],
    output: name,
  }, "test");
  return graph.nodes[0];
}

// Expected shapes below are worked by hand: out = floor((in + 2 * pad - span) / stride) + 1, where
// span = (kernel - 1) * dilation + 1.

Deno.test("shapes: conv2d with a different stride, padding and dilation per axis", () => {
  const conv = node("n", {
    op: "conv2d",
    weight: "w",
    stride: [1, 2],
    padding: [0, 1],
    dilation: [2, 1],
    groups: 2,
  });
  // Height: span (3 - 1) * 2 + 1 = 5, (9 - 5) / 1 + 1 = 5. Width: span 3, floor((6 + 2 - 3) / 2) + 1 = 3.
  assert.deepEqual(outputShape(conv, [[2, 6, 9, 6]], params({ w: [4, 3, 3, 3] })), [2, 4, 5, 3]);
});

Deno.test("shapes: pooling, with the stride defaulting to the kernel", () => {
  // Height: floor((7 + 2 - 3) / 3) + 1 = 3. Width: floor((8 - 2) / 2) + 1 = 4.
  const max = node("n", { op: "max_pool", kernel: [3, 2], padding: [1, 0] });
  assert.deepEqual(outputShape(max, [[1, 4, 7, 8]], params({})), [1, 4, 3, 4]);
  // Height: floor((7 + 2 - 3) / 2) + 1 = 4. Width: (6 + 2 - 3) / 1 + 1 = 6.
  const avg = node("n", { op: "avg_pool", kernel: [3, 3], stride: [2, 1], padding: [1, 1] });
  assert.deepEqual(outputShape(avg, [[1, 1, 7, 6]], params({})), [1, 1, 4, 6]);
});

Deno.test("shapes: reshape fills its -1, flatten keeps the batch axis", () => {
  assert.deepEqual(outputShape(node("n", { op: "reshape", shape: [4, -1] }), [[2, 3, 4, 2]], params({})), [2, 4, 6]);
  assert.deepEqual(outputShape(node("n", { op: "flatten" }), [[2, 3, 4, 2]], params({})), [2, 24]);
});

Deno.test("shapes: every value of a graph at a batch size", () => {
  const graph = parseGraph({
    format: "convnet-graph",
    version: 1,
    input: { name: "image", shape: [3, 8, 8] },
    nodes: [
      { name: "conv", op: "conv2d", inputs: ["image"], weight: "conv.w", bias: "conv.b", padding: [1, 1] },
      { name: "pool", op: "max_pool", inputs: ["conv"], kernel: [2, 2] },
      { name: "gap", op: "global_avg_pool", inputs: ["pool"] },
      { name: "both", op: "concat", inputs: ["gap", "gap"] },
      { name: "fc", op: "dense", inputs: ["both"], weight: "fc.w" },
      { name: "act", op: "sigmoid", inputs: ["fc"] },
    ],
    output: "act",
  }, "test");
  const shapes = graphShapes(graph, params({ "conv.w": [5, 3, 3, 3], "conv.b": [5], "fc.w": [7, 10] }), 4);
  assert.deepEqual(Object.fromEntries(shapes), {
    image: [4, 3, 8, 8],
    conv: [4, 5, 8, 8],
    pool: [4, 5, 4, 4],
    gap: [4, 5],
    both: [4, 10],
    fc: [4, 7],
    act: [4, 7],
  });
});

/** Asserts that `run` throws an InputError with exactly `message`. */
function assertInputError(run: () => unknown, message: string): void {
  assert.throws(run, (e: Error) => {
    assert.ok(e instanceof InputError, `${e.name}: ${e.message}`);
    assert.equal(e.message, message);
    return true;
  });
}

Deno.test("shapes: a mismatch names the node and both shapes", () => {
  const dense = node("fc", { op: "dense", weight: "fc.w" });
  assertInputError(
    () => outputShape(dense, [[1, 6]], params({ "fc.w": [5, 7] })),
    'node "fc" (dense): input [1, 6] does not match weight "fc.w" [5, 7]: expected [batch, 7]',
  );
  const conv = node("c", { op: "conv2d", weight: "c.w" });
  assertInputError(
    () => outputShape(conv, [[1, 4, 5, 5]], params({ "c.w": [8, 3, 3, 3] })),
    'node "c" (conv2d): input [1, 4, 5, 5] has 4 channels but weight "c.w" [8, 3, 3, 3] with 1 group(s) expects 3',
  );
  assertInputError(
    () => outputShape(conv, [[1, 3, 2, 2]], params({ "c.w": [4, 3, 3, 3] })),
    'node "c" (conv2d): input [1, 3, 2, 2], weight [4, 3, 3, 3]: conv2d: output height would be empty: ' +
      "input height 2 + 2 * padding 0 is smaller than the dilated kernel height 3",
  );
  const pool = node("p", { op: "max_pool", kernel: [2, 2], padding: [0, 2] });
  assertInputError(
    () => outputShape(pool, [[1, 1, 5, 5]], params({})),
    'node "p" (max_pool): input [1, 1, 5, 5]: pool: padding 2 must be smaller than the kernel width 2',
  );
  const sum: GraphNode = { name: "sum", op: "add", inputs: ["a", "b"] };
  assertInputError(
    () => outputShape(sum, [[1, 2], [1, 3]], params({})),
    'node "sum" (add): inputs [1, 2] and [1, 3] must have the same shape',
  );
  const reshape = node("r", { op: "reshape", shape: [5, -1] });
  assertInputError(
    () => outputShape(reshape, [[2, 3, 4]], params({})),
    'node "r" (reshape): cannot reshape input [2, 3, 4] to [batch, 5, -1]',
  );
});

/** Every module a file loads, by `deno info`. */
async function moduleGraph(file: string): Promise<string[]> {
  const { stdout, success } = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", new URL(file, import.meta.url).pathname],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  assert.ok(success, `deno info ${file} failed`);
  const graph: { modules: { specifier: string }[] } = JSON.parse(new TextDecoder().decode(stdout));
  return graph.modules.map((m) => m.specifier);
}

Deno.test("shapes: shape inference, the model summary and the ONNX importer load no kernel module", async () => {
  for (const file of ["../pipeline/model/shapes.ts", "../pipeline/model/summary.ts", "../pipeline/model/onnx/mod.ts"]) {
    const modules = await moduleGraph(file);
    assert.ok(modules.some((s) => s.endsWith("/pipeline/model/shapes.ts")), `${file}: shapes.ts in its graph`);
    assert.deepEqual(modules.filter((s) => s.includes("/kernels/")), [], file);
  }
});
