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

/**
 * Seeded images in [0.3, 0.7], own labels: away from the box, so the smallest step to a linear model's
 * boundary rarely meets it (the linear-model known answers need the box not to bind).
 */
export function middleBatch(model: ModelFiles, count: number, seed: number): ImageBatch {
  const shape = model.graph.input.shape;
  const images = randomArray(count * shape[0] * shape[1] * shape[2], seed).map((v) => 0.5 + 0.2 * v);
  return ownBatch(model, count, seed, images);
}

/** The model's float64 logits of `count` images. */
export function logitsOf(model: ModelFiles, images: ArrayLike<number>, count: number): Float64Array {
  const oracle = { graph: model.graph, weights: model.weights, normalization: model.manifest.normalization };
  return Float64Array.from(graphForwardOracle(oracle, Float64Array.from(images), count).data);
}

/**
 * A two-class linear model's (audit_fixture's linearModel with 2 channels) margin
 * logit_label - logit_other at an image and its pixel-space gradient, in float64.
 */
export function twoClassMargin(model: ModelFiles, image: ArrayLike<number>, label: number): { m: number; a: number[] } {
  const w = model.weights.get("fc.w")!, b = model.weights.get("fc.b")!;
  const features = w.shape[1], plane = features / 2;
  const { mean, std } = model.manifest.normalization;
  const a = Array.from(
    { length: features },
    (_, i) => (w.data[label * features + i] - w.data[(1 - label) * features + i]) / std[Math.floor(i / plane)],
  );
  const m = b.data[label] - b.data[1 - label] +
    a.reduce((s, ai, i) => s + ai * (image[i] - mean[Math.floor(i / plane)]), 0);
  return { m, a };
}

/**
 * The images of a batch on the two-class linear model whose analytic minimal perturbation,
 * |margin| / ||w||_q (q: 2 for L2, 1 for L-infinity), scaled by `slack`, keeps the image in [0, 1]
 * (where the box binds the closed form no longer holds): each one's position, minimum and dual norm.
 */
export function unboundMinima(
  model: ModelFiles,
  host: ImageBatch,
  norm: "l2" | "linf",
  slack: number,
): { n: number; exact: number; dual: number }[] {
  const per = host.images.length / host.count;
  return Array.from({ length: host.count }, (_, n) => n).flatMap((n) => {
    const x = host.images.subarray(n * per, (n + 1) * per);
    const { m, a } = twoClassMargin(model, x, host.labels[n]);
    const dual = norm === "l2" ? Math.hypot(...a) : a.reduce((s, v) => s + Math.abs(v), 0);
    const exact = m / dual;
    const step = a.map((ai) => slack * exact * (norm === "l2" ? ai / Math.hypot(...a) : Math.sign(ai)));
    return step.some((s, i) => x[i] - s < 0 || x[i] - s > 1) ? [] : [{ n, exact, dual }];
  });
}
