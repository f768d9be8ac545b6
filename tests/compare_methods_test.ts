/**
 * Which saliency methods the faithfulness metrics and the sanity checks compare: every applicable
 * one on small inputs, only the single-pass ones and the chosen method above 64x64 pixels, and a
 * list as given (a method the model cannot take exits 2 naming the flag).
 */
import assert from "node:assert/strict";
import { chooseSaliency } from "../pipeline/audit/saliency_choice.ts";
import { InputError } from "../pipeline/io/input_error.ts";
import { Executor } from "../pipeline/model/executor.ts";
import type { Graph } from "../pipeline/model/graph.ts";
import { errorLines, runCli } from "./cli_helpers.ts";
import { gpuTest, testGpu } from "./gpu_fixture.ts";

/** A 3-channel ConvNet (conv, relu, global pool, dense) on `side` x `side` images, or a linear model. */
async function model(side: number, spatial: boolean): Promise<Executor> {
  const conv: Graph["nodes"] = [
    {
      name: "conv",
      op: "conv2d",
      inputs: ["image"],
      weight: "c.w",
      stride: [1, 1],
      padding: [0, 0],
      dilation: [1, 1],
      groups: 1,
    },
    { name: "act", op: "relu", inputs: ["conv"] },
    { name: "pool", op: "global_avg_pool", inputs: ["act"] },
    { name: "out", op: "dense", inputs: ["pool"], weight: "d.w" },
  ];
  const linear: Graph["nodes"] = [
    { name: "flat", op: "flatten", inputs: ["image"] },
    { name: "out", op: "dense", inputs: ["flat"], weight: "d.w" },
  ];
  const features = spatial ? 2 : 3 * side * side;
  const weights = new Map([
    ["c.w", { shape: [2, 3, 1, 1], data: new Float32Array(6).fill(0.5) }],
    ["d.w", { shape: [2, features], data: new Float32Array(2 * features).fill(0.1) }],
  ]);
  const graph: Graph = {
    format: "convnet-graph",
    version: 1,
    input: { name: "image", shape: [3, side, side] },
    nodes: spatial ? conv : linear,
    output: "out",
  };
  return await Executor.create(await testGpu(), {
    graph,
    weights,
    manifest: { normalization: { mean: [0, 0, 0], std: [1, 1, 1] } },
  });
}

Deno.test({
  name: "compared methods: all seven up to 64x64 pixels, the single-pass ones and the chosen method above",
  ...gpuTest,
  async fn() {
    using small = await model(64, true);
    assert.deepEqual(chooseSaliency(small, {}).compared, [
      "gradient",
      "gradientInput",
      "smoothGrad",
      "integratedGradients",
      "gradcam",
      "gradcam++",
      "occlusion",
    ]);
    using large = await model(65, true);
    assert.deepEqual(chooseSaliency(large, {}).compared, ["gradient", "gradientInput", "gradcam", "gradcam++"]);
    assert.deepEqual(chooseSaliency(large, { saliency: "smoothGrad" }).compared, [
      "gradient",
      "gradientInput",
      "smoothGrad",
      "gradcam",
      "gradcam++",
    ]);
    assert.equal(chooseSaliency(large, { compareMethods: "all" }).compared.length, 7);
    assert.deepEqual(chooseSaliency(small, { compareMethods: "fast" }).compared, [
      "gradient",
      "gradientInput",
      "gradcam",
      "gradcam++",
    ]);
    assert.deepEqual(chooseSaliency(small, { compareMethods: ["occlusion", "gradient"] }).compared, [
      "gradient",
      "occlusion",
    ]);
  },
});

Deno.test({
  name: "compared methods: a linear model leaves out the CAMs, and listing one exits 2 naming the flag",
  ...gpuTest,
  async fn() {
    using linear = await model(8, false);
    assert.deepEqual(chooseSaliency(linear, {}).compared, [
      "gradient",
      "gradientInput",
      "smoothGrad",
      "integratedGradients",
      "occlusion",
    ]);
    assert.throws(
      () => chooseSaliency(linear, { compareMethods: ["gradcam"] }),
      (e) => e instanceof InputError && /^--compare-methods: gradcam needs a spatial/.test(e.message),
    );
  },
});

Deno.test("compared methods: an unknown method on the command line exits 2 with one line listing the choices", async () => {
  const result = await runCli("audit", ["--compare-methods", "gradient,blah", "--out", "/nonexistent/never-written"]);
  assert.equal(result.code, 2);
  assert.deepEqual(errorLines(result), [
    "audit: --compare-methods: must be auto, all, fast or a comma-separated list of gradient, gradientInput, " +
    "smoothGrad, integratedGradients, gradcam, gradcam++, occlusion",
  ]);
});
