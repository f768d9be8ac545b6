/**
 * Executor tests on small hand-written graphs: a model of a graph with seeded weights, the
 * executor's logits and mean cross-entropy gradients for a batch (input and every parameter), and
 * the check of all of them against central differences of the float64 graph oracle.
 */
import assert from "node:assert/strict";
import type { Gpu } from "../kernels/gpu.ts";
import type { Executor } from "../pipeline/model/executor.ts";
import { recordCrossEntropyGradient } from "../pipeline/model/loss.ts";
import type { Graph } from "../pipeline/model/graph.ts";
import type { HostTensor, ModelFiles } from "../pipeline/model/model_files.ts";
import { graphForwardOracle } from "./graph_oracle.ts";
import { assertGradientMatches, meanXentOracle } from "./ops_oracle.ts";
import { randomArray } from "./oracle.ts";

/** What `crossEntropyGradients` reads back. */
export interface ReadGradients {
  logits: Float32Array;
  input: Float32Array;
  params: Map<string, Float32Array>;
}

/**
 * Logits and the gradients of the mean cross-entropy with respect to the input and (unless
 * `params` is false) every parameter.
 */
export async function crossEntropyGradients(
  gpu: Gpu,
  exec: Executor,
  x: ArrayLike<number>,
  shape: number[],
  labels: number[],
  { params: wantParams = true }: { params?: boolean } = {},
): Promise<ReadGradients> {
  using input = gpu.tensor(shape, x);
  using labelTensor = gpu.tensor([shape[0]], labels, "u32");
  let result!: ReturnType<typeof recordCrossEntropyGradient>;
  await gpu.run((step) => {
    result = recordCrossEntropyGradient(step, exec, input, labelTensor, { input: true, params: wantParams });
  });
  using _ = result;
  const params = new Map<string, Float32Array>();
  for (const [name, g] of result.grads.params) params.set(name, await gpu.read(g));
  return { logits: await gpu.read(result.logits), input: await gpu.read(result.grads.input!), params };
}

/**
 * Asserts the input gradient and every parameter's gradient match central differences of the
 * oracle's mean cross-entropy, and that every weight got one.
 */
export function assertGradientsMatchOracle(
  model: ModelFiles,
  got: ReadGradients,
  x: Float64Array,
  labels: number[],
  fd = { samples: 16, h: 1e-4, tol: 2e-3 },
): void {
  const oracle = { graph: model.graph, weights: model.weights, normalization: model.manifest.normalization };
  const batch = labels.length;
  const classes = model.manifest.classes.length;
  const loss = (params?: Map<string, ArrayLike<number>>) => (input: Float64Array) =>
    meanXentOracle(graphForwardOracle(oracle, input, batch, { params }).data, batch, classes, labels);
  assertGradientMatches(loss(), x, got.input, "input gradient", fd);
  assert.deepEqual([...got.params.keys()].sort(), [...model.weights.keys()].sort());
  for (const [name, t] of model.weights) {
    const paramLoss = (values: Float64Array) => loss(new Map([[name, values]]))(x);
    assertGradientMatches(paramLoss, Float64Array.from(t.data), got.params.get(name)!, `d loss / d ${name}`, fd);
  }
}

/**
 * A model of `graph` with seeded uniform [-1, 1) weights of the given shapes (the i-th drawn from
 * seed + i), `classes` named classes and the normalisation given.
 */
export function randomModel(
  name: string,
  graph: Graph,
  shapes: Record<string, number[]>,
  options: { classes: number; normalization: { mean: number[]; std: number[] }; seed: number },
): ModelFiles {
  const weights = new Map<string, HostTensor>();
  Object.entries(shapes).forEach(([param, shape], i) => {
    weights.set(param, { shape, data: randomArray(shape.reduce((x, y) => x * y, 1), options.seed + i) });
  });
  const [channels, height, width] = graph.input.shape;
  return {
    graph,
    weights,
    manifest: {
      format: "convnet-model",
      version: 1,
      name,
      classes: Array.from({ length: options.classes }, (_, i) => String.fromCharCode(97 + i)),
      input: { channels, height, width },
      normalization: options.normalization,
      inputRange: [0, 1],
    },
  };
}
