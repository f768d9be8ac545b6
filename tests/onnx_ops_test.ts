/**
 * The graph ops ONNX import added (leaky_relu, sigmoid, concat): kernels against float64 oracles,
 * backward oracles against finite differences, the executor on a graph using them forward and
 * backward, and a small ONNX model exercising the import's lowering rules against onnxruntime.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  elementwiseKernel,
  recordLeakyRelu,
  recordLeakyReluBackward,
  recordSigmoid,
  recordSigmoidBackward,
} from "../kernels/elementwise.ts";
import { Executor } from "../pipeline/model/executor.ts";
import type { Graph, GraphNode } from "../pipeline/model/graph.ts";
import type { ModelFiles } from "../pipeline/model/model_files.ts";
import { importOnnx } from "../pipeline/model/onnx/mod.ts";
import { gpuTest, testGpu } from "./gpu_fixture.ts";
import { graphForwardOracle } from "./graph_oracle.ts";
import { assertGradientsMatchOracle, crossEntropyGradients, randomModel } from "./executor_gradients.ts";
import { floatTensor, int64Tensor, OnnxBuilder } from "./onnx_builder.ts";
import { convBn, relu6 } from "./onnx_fixtures.ts";
import { assertGradientMatchesOrt, assertLogitsMatch, OrtModel } from "./onnx_ort.ts";
import {
  assertGradientMatches,
  dot,
  leakyReluBackwardOracle,
  leakyReluOracle,
  sigmoidBackwardOracle,
  sigmoidOracle,
} from "./ops_oracle.ts";
import { assertClose, randomArray } from "./oracle.ts";

Deno.test({
  name: "leaky ReLU and sigmoid forward and backward kernels match the float64 oracle",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    const kernel = await elementwiseKernel(gpu);
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 3000 }),
        fc.integer({ min: 0, max: 8 }),
        fc.integer(),
        async (n, a, seed) => {
          const alpha = a / 8;
          const x = randomArray(n, seed).map((v) => v * 12); // sigmoid saturates at both ends
          const dy = randomArray(n, seed + 1);
          using tx = gpu.tensor([n], x);
          using tdy = gpu.tensor([n], dy);
          using leaky = gpu.tensor([n]);
          using dleaky = gpu.tensor([n]);
          using sig = gpu.tensor([n]);
          using dsig = gpu.tensor([n]);
          await gpu.run((s) => {
            recordLeakyRelu(s, kernel, { x: tx, y: leaky, alpha });
            recordLeakyReluBackward(s, kernel, { x: tx, dy: tdy, dx: dleaky, alpha });
            recordSigmoid(s, kernel, { x: tx, y: sig });
          });
          await gpu.run((s) => recordSigmoidBackward(s, kernel, { y: sig, dy: tdy, dx: dsig }));
          const y = sigmoidOracle(x);
          assertClose(await gpu.read(leaky), leakyReluOracle(x, alpha), 1, `leaky n=${n} alpha=${alpha}`);
          assertClose(await gpu.read(dleaky), leakyReluBackwardOracle(x, dy, alpha), 1, `leaky backward n=${n}`);
          assertClose(await gpu.read(sig), y, 1, `sigmoid n=${n}`);
          assertClose(await gpu.read(dsig), sigmoidBackwardOracle(y, dy), 1, `sigmoid backward n=${n}`);
        },
      ),
      { numRuns: 10 },
    );
  },
});

Deno.test("leaky ReLU and sigmoid backward oracles match finite differences (leaky away from its kink)", () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 200 }), fc.integer({ min: 0, max: 8 }), fc.integer(), (n, a, seed) => {
      const alpha = a / 8;
      const x = Float64Array.from(randomArray(n, seed), (v) => (Math.abs(v) < 0.01 ? 0.05 : v) * 6);
      const cot = randomArray(n, seed + 1);
      const leaky = (p: Float64Array) => dot(leakyReluOracle(p, alpha), cot);
      assertGradientMatches(leaky, x, leakyReluBackwardOracle(x, cot, alpha), "leaky ReLU", { seed });
      const sigmoid = (p: Float64Array) => dot(sigmoidOracle(p), cot);
      assertGradientMatches(sigmoid, x, sigmoidBackwardOracle(sigmoidOracle(x), cot), "sigmoid", { seed });
    }),
    { numRuns: 50 },
  );
});

/** conv -> (leaky_relu | sigmoid) branches -> concat (three inputs, one twice) -> gap -> dense. */
function branchyModel(): ModelFiles {
  const conv = (name: string): GraphNode => ({
    name,
    op: "conv2d",
    inputs: ["image"],
    stride: [1, 1],
    padding: [1, 1],
    dilation: [1, 1],
    groups: 1,
    weight: `${name}.w`,
    bias: `${name}.b`,
  });
  const graph: Graph = {
    format: "convnet-graph",
    version: 1,
    input: { name: "image", shape: [2, 5, 5] },
    nodes: [
      conv("a"),
      { name: "leaky", op: "leaky_relu", inputs: ["a"], alpha: 0.2 },
      conv("b"),
      { name: "sig", op: "sigmoid", inputs: ["b"] },
      { name: "cat", op: "concat", inputs: ["leaky", "sig", "leaky"] },
      { name: "gap", op: "global_avg_pool", inputs: ["cat"] },
      { name: "fc", op: "dense", inputs: ["gap"], weight: "fc.w", bias: "fc.b" },
    ],
    output: "fc",
  };
  const shapes: Record<string, number[]> = {
    "a.w": [3, 2, 3, 3],
    "a.b": [3],
    "b.w": [2, 2, 3, 3],
    "b.b": [2],
    "fc.w": [4, 8],
    "fc.b": [4],
  };
  const normalization = { mean: [0.5, 0.25], std: [0.5, 1] };
  return randomModel("branchy", graph, shapes, { classes: 4, normalization, seed: 40 });
}

Deno.test({
  name: "executor: leaky_relu, sigmoid and concat (an input used twice) match the float64 oracle forward and backward",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    const model = branchyModel();
    const oracle = { graph: model.graph, weights: model.weights, normalization: model.manifest.normalization };
    const batch = 3, labels = [0, 3, 2];
    const shape = [batch, ...model.graph.input.shape];
    const x = Float64Array.from({ length: batch * 50 }, (_, i) => (Math.sin(i * 0.91 + 0.3) + 1) / 2);
    using exec = await Executor.create(gpu, model);
    const got = await crossEntropyGradients(gpu, exec, x, shape, labels);
    assertClose(got.logits, graphForwardOracle(oracle, x, batch).data, 32, "logits", 10);
    assertGradientsMatchOracle(model, got, x, labels);
  },
});

/**
 * Opset 10 (Clip bounds and Pad amounts as attributes) with the lowering rules the fixtures leave out: Concat,
 * a zero Pad folded into a count-including AveragePool, symmetric SAME_UPPER padding, MaxPool with
 * a harmless ceil_mode, a Reshape copying the batch axis (0), and a constant Add that cannot fold.
 */
function loweringRulesModel(): Uint8Array {
  const b = new OnnxBuilder(10, 500);
  const a = convBn(b, "image", 3, 4, { kernel: 3, bn: "separate" }, 600);
  const left = relu6(b, b.op("Conv", [a, b.random("same.w", [4, 4, 3, 3], 0.3)], { auto_pad: { s: "SAME_UPPER" } }));
  const right = b.op("LeakyRelu", [a], { alpha: { f: 0.3 } });
  let x = b.op("Concat", [left, right, b.op("Sigmoid", [a])], { axis: { i: 1 } });
  x = b.op("Add", [b.op("Relu", [x]), b.random("shift", [12, 1, 1], 0.5)]);
  x = b.op("Pad", [x], { pads: { ints: [0, 0, 1, 1, 0, 0, 1, 1] } });
  x = b.op("AveragePool", [x], { kernel_shape: { ints: [3, 3] }, count_include_pad: { i: 1 } });
  x = b.op("MaxPool", [x], { kernel_shape: { ints: [2, 2] }, strides: { ints: [2, 2] }, ceil_mode: { i: 1 } });
  x = b.op("Reshape", [x, b.init(int64Tensor("flat", [0, -1]))]);
  x = b.op("Gemm", [x, b.random("fc.w", [5, 108], 0.2), b.init(floatTensor("fc.b", [1, 5], [0.1, 0, -0.1, 0.2, 0]))], {
    transB: { i: 1 },
  });
  return b.build({ name: "image", dims: [1, 3, 8, 8] }, { name: x, dims: [1, 5] });
}

Deno.test({
  name:
    "onnx import: concat, folded zero Pad, SAME padding, ceil_mode, opset-10 Clip and a fixed batch match onnxruntime",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    const bytes = loweringRulesModel();
    const normalization = { mean: [0, 0, 0], std: [1, 1, 1] };
    const imported = await importOnnx(bytes, { source: "rules.onnx", folder: "." });
    assert.ok(imported.graph.nodes.some((n) => n.op === "concat"));
    const pool = imported.graph.nodes.find((n) => n.op === "avg_pool");
    assert.ok(pool?.op === "avg_pool" && pool.padding.join() === "1,1" && pool.countIncludePad, "the Pad folds");
    const sums = imported.graph.nodes.filter((n) => n.op === "binary" && n.fn === "add" && n.constant);
    assert.equal(sums.length, 1, "the Add of a constant after a relu becomes a binary node with its constant");
    // The file fixes batch 1; the import makes the batch free: run 2 images, then each alone through onnxruntime.
    const shape = [2, 3, 8, 8];
    const x = Float32Array.from({ length: 384 }, (_, i) => (Math.cos(i * 0.77) + 1) / 2);
    using exec = await Executor.create(gpu, { ...imported, manifest: { normalization } });
    const got = await crossEntropyGradients(gpu, exec, Float64Array.from(x), shape, [1, 4]);
    const ort = await OrtModel.create(bytes, normalization);
    try {
      for (let i = 0; i < 2; i++) {
        const image = x.subarray(i * 192, (i + 1) * 192);
        assertLogitsMatch(got.logits.subarray(i * 5, (i + 1) * 5), await ort.logits(image, [1, 3, 8, 8]), `image ${i}`);
        // The batch mean halves each image's share of the gradient.
        const gradient = got.input.subarray(i * 192, (i + 1) * 192).map((g) => 2 * g);
        await assertGradientMatchesOrt(
          ort,
          Float32Array.from(image),
          [1, 3, 8, 8],
          [[1, 4][i]],
          gradient,
          `image ${i}`,
        );
      }
    } finally {
      await ort.release();
    }
  },
});
