/**
 * The reduce group's layers in the executor, forward and backward, against a float64 oracle of
 * the whole graph and central differences of its mean cross-entropy: a max over channels
 * broadcast as a transposed matmul operand, layer norm, a dense layer on the last axis of a rank-4
 * value, softmax along an inner axis, and a sum over two axes (not the softmax's, which would sum to 1). Input and parameter gradients.
 */
import assert from "node:assert/strict";
import { Executor } from "../pipeline/model/executor.ts";
import type { Graph } from "../pipeline/model/graph.ts";
import { recordCrossEntropyGradient } from "../pipeline/model/loss.ts";
import type { HostTensor } from "../pipeline/model/model_files.ts";
import { gpuTest, testGpu } from "./gpu_fixture.ts";
import { graphForwardOracle } from "./graph_oracle.ts";
import { assertGradientMatches, meanXentOracle } from "./ops_oracle.ts";
import { assertClose, randomArray } from "./oracle.ts";

const graph: Graph = {
  format: "convnet-graph",
  version: 1,
  input: { name: "x", shape: [2, 3, 4] },
  nodes: [
    { name: "peak", op: "reduce", inputs: ["x"], kind: "max", axes: [1], keepdims: true },
    { name: "mix", op: "matmul", inputs: ["peak", "x"], transA: true, transB: false },
    { name: "norm", op: "layer_norm", inputs: ["mix"], axis: 3, epsilon: 1e-5, scale: "ln.scale", bias: "ln.bias" },
    { name: "fc", op: "dense", inputs: ["norm"], weight: "fc.weight", bias: "fc.bias" },
    { name: "attn", op: "softmax", inputs: ["fc"], axis: 2, log: false },
    { name: "logits", op: "reduce", inputs: ["attn"], kind: "sum", axes: [1, 3], keepdims: false },
  ],
  output: "logits",
};

const weights = new Map<string, HostTensor>([
  ["ln.scale", { shape: [4], data: randomArray(4, 11).map((v) => 1 + 0.3 * v) }],
  ["ln.bias", { shape: [4], data: randomArray(4, 12).map((v) => 0.2 * v) }],
  ["fc.weight", { shape: [3, 4], data: randomArray(12, 13) }],
  ["fc.bias", { shape: [3], data: randomArray(3, 14).map((v) => 0.1 * v) }],
]);

const normalization = { mean: [0, 0], std: [1, 1] };

/** The graph in float64, from the input and (optionally replaced) parameters. */
function oracle(x: ArrayLike<number>, batch: number, params: Map<string, ArrayLike<number>>): Float64Array {
  return graphForwardOracle({ graph, weights, normalization }, x, batch, { params }).data;
}

Deno.test({
  name: "executor: reduce, broadcast transposed matmul, layer norm, rank-4 dense, softmax match the float64 graph",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    const batch = 3, labels = [0, 2, 3];
    const x = Float64Array.from(randomArray(batch * 24, 5), (v) => (v + 1) / 2);
    using exec = await Executor.create(gpu, {
      graph,
      weights,
      manifest: { normalization },
    });
    using input = gpu.tensor([batch, 2, 3, 4], x);
    using labelTensor = gpu.tensor([batch], labels, "u32");
    let result!: ReturnType<typeof recordCrossEntropyGradient>;
    await gpu.run((step) => {
      result = recordCrossEntropyGradient(step, exec, input, labelTensor, { input: true, params: true });
    });
    using _ = result;
    assertClose(await gpu.read(result.logits), oracle(x, batch, new Map()), 16, "logits", 10);
    // assertGradientMatches compares absolutely below 1: the loss is scaled so gradients are about 1.
    const fd = { samples: 24, h: 1e-4, tol: 2e-3 };
    const SCALE = 100;
    const scaled = async (t: Parameters<typeof gpu.read>[0]) => (await gpu.read(t)).map((g) => g * SCALE);
    const loss = (params: Map<string, ArrayLike<number>>) => (point: Float64Array) =>
      SCALE * meanXentOracle(oracle(point, batch, params), batch, 4, labels);
    const inputGrad = await scaled(result.grads.input!);
    assert.ok(inputGrad.some((g) => Math.abs(g) > 0.1), "the input gradient is not vanishingly small");
    assertGradientMatches(loss(new Map()), x, inputGrad, "input gradient", fd);
    assert.deepEqual([...result.grads.params.keys()].sort(), [...weights.keys()].sort());
    for (const [name, tensor] of weights) {
      const grad = await scaled(result.grads.params.get(name)!);
      const at = (p: Float64Array) => loss(new Map([[name, p]]))(x);
      assertGradientMatches(at, Float64Array.from(tensor.data), grad, `d ${name}`, fd);
    }
  },
});
