/**
 * The attack tests' shared setup: an audit context per model (one executor each), seeded batches
 * labelled with the model's own float64 predictions, and the float64 logits of a graph.
 */
import type { ImageBatch } from "../pipeline/audit/batches.ts";
import { type AuditContext, createAuditContext } from "../pipeline/audit/gpu_batch.ts";
import { Executor } from "../pipeline/model/executor.ts";
import type { ModelFiles } from "../pipeline/model/model_files.ts";
import { testGpu } from "./gpu_fixture.ts";
import { graphForwardOracle } from "./graph_oracle.ts";
import { randomArray } from "./oracle.ts";

const executors = new Map<ModelFiles, Promise<Executor>>();

/** An audit context on the model (range [0, 1]); the executor is built once per model. */
export async function contextFor(model: ModelFiles, seed = 3): Promise<AuditContext> {
  let exec = executors.get(model);
  if (!exec) executors.set(model, exec = testGpu().then((gpu) => Executor.create(gpu, model)));
  return createAuditContext(await exec, [0, 1], seed);
}

/** Seeded images in [0, 1] labelled with the model's own float64 predictions (all correctly classified). */
export function ownBatch(model: ModelFiles, count: number, seed: number, images?: Float32Array): ImageBatch {
  const shape = model.graph.input.shape;
  const per = shape[0] * shape[1] * shape[2];
  const x = images ?? randomArray(count * per, seed).map((v) => (v + 1) / 2);
  const logits = logitsOf(model, x, count);
  const classes = logits.length / count;
  const labels = Int32Array.from({ length: count }, (_, n) => {
    const row = Array.from(logits.subarray(n * classes, (n + 1) * classes));
    return row.indexOf(Math.max(...row));
  });
  return { indices: Array.from({ length: count }, (_, i) => 10 * i + 7), images: x, labels, count, shape };
}

/** The model's float64 logits of `count` images. */
export function logitsOf(model: ModelFiles, images: ArrayLike<number>, count: number): Float64Array {
  const oracle = { graph: model.graph, weights: model.weights, normalization: model.manifest.normalization };
  return Float64Array.from(graphForwardOracle(oracle, Float64Array.from(images), count).data);
}
