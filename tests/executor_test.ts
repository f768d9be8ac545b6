import assert from "node:assert/strict";
import type { Gpu } from "../kernels/gpu.ts";
import { Executor } from "../pipeline/model/executor.ts";
import { InputError } from "../pipeline/io/input_error.ts";
import { recordCrossEntropyGradient } from "../pipeline/model/loss.ts";
import { gpuTest, testGpu } from "./gpu_fixture.ts";
import { graphForwardOracle, type OracleModel } from "./graph_oracle.ts";
import { assertGradientMatches, meanXentOracle } from "./ops_oracle.ts";
import { assertClose, randomArray } from "./oracle.ts";
import { resnetFixture } from "./resnet_fixture.ts";
import type { Graph } from "../pipeline/model/graph.ts";
import type { HostTensor, ModelFiles } from "../pipeline/model/model_files.ts";

const BATCH = 3;
const LABELS = [1, 4, 0];

/**
 * Convolution, max and average pooling with a different stride and padding on each axis (stride
 * [1, 2], padding [0, 1]), concatenated into a dense head. On a 5x5 image with 3x3 windows every
 * output is 3x3 whichever axis gets which stride and padding, so only the values show a swap.
 */
function asymmetricFixture(): ModelFiles {
  const window = { stride: [1, 2] as [number, number], padding: [0, 1] as [number, number] };
  const graph: Graph = {
    format: "convnet-graph",
    version: 1,
    input: { name: "image", shape: [2, 5, 5] },
    nodes: [
      {
        name: "conv",
        op: "conv2d",
        inputs: ["image"],
        ...window,
        dilation: [1, 1],
        groups: 1,
        weight: "conv.w",
        bias: "conv.b",
      },
      { name: "max", op: "max_pool", inputs: ["image"], kernel: [3, 3], ...window },
      { name: "avg", op: "avg_pool", inputs: ["image"], kernel: [3, 3], ...window, countIncludePad: false },
      { name: "cat", op: "concat", inputs: ["conv", "max", "avg"] },
      { name: "flat", op: "flatten", inputs: ["cat"] },
      { name: "fc", op: "dense", inputs: ["flat"], weight: "fc.w", bias: "fc.b" },
    ],
    output: "fc",
  };
  const shapes: [string, number[]][] = [["conv.w", [3, 2, 3, 3]], ["conv.b", [3]], ["fc.w", [5, 63]], ["fc.b", [5]]];
  const weights = new Map<string, HostTensor>(
    shapes.map(([name, shape], i) => [name, { shape, data: randomArray(shape.reduce((a, b) => a * b), 20 + i) }]),
  );
  const manifest: ModelFiles["manifest"] = {
    format: "convnet-model",
    version: 1,
    name: "asymmetric-windows",
    classes: ["a", "b", "c", "d", "e"],
    input: { channels: 2, height: 5, width: 5 },
    normalization: { mean: [0.5, 0.4], std: [0.25, 0.5] },
    inputRange: [0, 1],
  };
  return { graph, weights, manifest };
}

function fixture(model = resnetFixture()) {
  const oracle: OracleModel = {
    graph: model.graph,
    weights: model.weights,
    normalization: model.manifest.normalization,
  };
  const [c, h, w] = model.graph.input.shape;
  const x = Float64Array.from({ length: BATCH * c * h * w }, (_, i) => (Math.sin(i * 1.37 + 0.2) + 1) / 2);
  return { model, oracle, x, inputShape: [BATCH, c, h, w] };
}

/** Runs forward + mean cross-entropy + backward on the GPU; returns logits and gradients on the host. */
async function gpuGradients(gpu: Gpu, exec: Executor, x: Float64Array, shape: number[], training = false) {
  using input = gpu.tensor(shape, x);
  using labels = gpu.tensor([BATCH], LABELS, "u32");
  let result!: ReturnType<typeof recordCrossEntropyGradient>;
  await gpu.run((step) => {
    result = recordCrossEntropyGradient(step, exec, input, labels, { input: true, params: true, training });
  });
  using _ = result;
  const params = new Map<string, Float32Array>();
  for (const [name, g] of result.grads.params) params.set(name, await gpu.read(g));
  return { logits: await gpu.read(result.logits), input: await gpu.read(result.grads.input!), params };
}

/**
 * Forward + mean cross-entropy + backward on the GPU against the float64 oracle: the logits, and by
 * finite differences the input gradient and every trainable parameter's gradient.
 */
async function checkAgainstOracle(model: ModelFiles, training: boolean, what: string) {
  const gpu = await testGpu();
  const { oracle, x, inputShape } = fixture(model);
  using exec = await Executor.create(gpu, model);
  const got = await gpuGradients(gpu, exec, x, inputShape, training);

  const expected = graphForwardOracle(oracle, x, BATCH, { training });
  assertClose(got.logits, expected.data, 64, `logits (${what})`, 10);

  const loss = (params?: Map<string, ArrayLike<number>>) => (input: Float64Array) =>
    meanXentOracle(graphForwardOracle(oracle, input, BATCH, { params, training }).data, BATCH, 5, LABELS);
  const fd = { samples: 16, h: 1e-4, tol: 2e-3 };
  assertGradientMatches(loss(), x, got.input, `input gradient (${what})`, fd);

  // Every trainable parameter has a gradient, checked by finite differences on sampled coordinates.
  const trainable = [...model.weights.keys()].filter((n) => !/\.(m|v)$/.test(n));
  assert.deepEqual([...got.params.keys()].sort(), trainable.sort());
  for (const name of trainable) {
    const base = Float64Array.from(model.weights.get(name)!.data);
    const paramLoss = (values: Float64Array) => loss(new Map([[name, values]]))(x);
    assertGradientMatches(paramLoss, base, got.params.get(name)!, `d loss / d ${name} (${what})`, fd);
  }
}

for (const training of [false, true]) {
  const mode = training ? "training mode (batch statistics)" : "inference mode";
  Deno.test({
    name: `executor: a ResNet-style graph matches the float64 oracle forward and backward, ${mode}`,
    ...gpuTest,
    fn: () => checkAgainstOracle(resnetFixture(), training, mode),
  });
}

Deno.test({
  name: "executor: convolution and pooling with a different stride and padding per axis match the float64 oracle",
  ...gpuTest,
  fn: () => checkAgainstOracle(asymmetricFixture(), false, "stride [1, 2], padding [0, 1]"),
});

Deno.test({
  name: "executor: training mode moves batch-norm running statistics by momentum 0.1 toward the batch's",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    const { model, x, inputShape } = fixture();
    using exec = await Executor.create(gpu, model);
    const before = await gpu.read(exec.params.get("bn1.m")!);
    using input = gpu.tensor(inputShape, x);
    await gpu.run((step) => exec.forwardWithTape(step, input, { training: true }).dispose());
    const after = await gpu.read(exec.params.get("bn1.m")!);
    // The batch mean of conv1's output, from the oracle run up to conv1.
    const upToConv1 = { ...model.graph, nodes: model.graph.nodes.slice(0, 1), output: "conv1" };
    const conv1 = graphForwardOracle(
      { graph: upToConv1, weights: model.weights, normalization: model.manifest.normalization },
      x,
      BATCH,
    );
    const [n, c, h, w] = conv1.shape;
    for (let ch = 0; ch < c; ch++) {
      let sum = 0;
      for (let i = 0; i < n; i++) for (let j = 0; j < h * w; j++) sum += conv1.data[(i * c + ch) * h * w + j];
      const expected = 0.9 * before[ch] + 0.1 * sum / (n * h * w);
      assert.ok(Math.abs(after[ch] - expected) < 1e-5, `running mean of channel ${ch}: ${after[ch]} vs ${expected}`);
    }
  },
});

Deno.test({
  name: "executor: a forward + backward pass leaves no GPU buffer behind once its results are disposed",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    const { model, x, inputShape } = fixture();
    using exec = await Executor.create(gpu, model);
    await gpuGradients(gpu, exec, x, inputShape); // warm the pool
    const live = gpu.pool.live;
    const created = gpu.pool.created;
    await gpuGradients(gpu, exec, x, inputShape);
    let out!: ReturnType<typeof exec.forward>;
    using input = gpu.tensor(inputShape, x);
    await gpu.run((step) => {
      out = exec.forward(step, input);
    });
    out.dispose();
    assert.equal(gpu.pool.live, live + 1, "only the input tensor of this test is live"); // `input`
    assert.equal(gpu.pool.created, created + 0, "the second pass reuses pooled buffers");
  },
});

Deno.test({
  name: "executor: a shape mismatch names the node and both shapes",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    const { model } = fixture();
    model.weights.set("fc.w", { shape: [5, 7], data: new Float32Array(35) });
    await assert.rejects(
      () => Executor.create(gpu, model),
      (e: Error) =>
        e instanceof InputError && /node "fc" \(dense\)/.test(e.message) && /\[1, 6\]/.test(e.message) &&
        /\[5, 7\]/.test(e.message),
    );
  },
});

Deno.test({
  name: "executor: an input of the wrong shape is refused with both shapes",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    const { model } = fixture();
    using exec = await Executor.create(gpu, model);
    using input = gpu.tensor([2, 1, 9, 9]);
    await assert.rejects(
      () => gpu.run((step) => exec.forward(step, input).dispose()),
      /model input must be \[2, 3, 9, 9\] \(NCHW\), got \[2, 1, 9, 9\]/,
    );
  },
});
