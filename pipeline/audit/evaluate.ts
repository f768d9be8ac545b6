/**
 * The evaluation stage: per batch, forward + softmax + top-k on the GPU with one readback; over
 * the data set, top-1 and top-5 accuracy, per-class accuracy, the confusion matrix, mean
 * confidence and calibration, and each image's top-5 and margin.
 *
 * @example
 * ```ts
 * import type { DataSource } from "../data/types.ts";
 * import type { Manifest } from "../model/manifest.ts";
 * import { imageBatches } from "./batches.ts";
 * import { type AuditContext, GpuBatch } from "./gpu_batch.ts";
 * declare const ctx: AuditContext, source: DataSource, manifest: Manifest;
 * const evaluation = new EvaluationAccumulator(manifest.classes);
 * for await (const host of imageBatches(source, { batchSize: 64, range: [0, 1] })) {
 *   using batch = GpuBatch.upload(ctx, host);
 *   evaluation.add(await predictBatch(ctx, batch));
 * }
 * console.log(evaluation.finish().top1);
 * ```
 */
import { recordSoftmaxXent } from "../../kernels/softmax_xent.ts";
import type { Step } from "../../kernels/gpu.ts";
import type { Tensor, TensorLike } from "../../kernels/tensor.ts";
import { recordTopK } from "../../kernels/top_k.ts";
import type { Tape } from "../model/executor.ts";
import type { AuditContext, GpuBatch } from "./gpu_batch.ts";
import { calibration, type CalibrationBin, type ClassAccuracy, confusionMatrix, perClassAccuracy } from "./metrics.ts";

/** How many top classes are kept per image (top-5, or every class when there are fewer). */
export const TOP_K = 5;

/** One image's prediction: its top classes and their probabilities, best first. */
export interface ImagePrediction {
  index: number;
  label: number;
  /** Class indices, most probable first (min(5, classes) of them). */
  top: number[];
  /** Their softmax probabilities. */
  probs: number[];
}

/** Top-1 probability. */
export function confidenceOf(p: ImagePrediction): number {
  return p.probs[0];
}

/** Top-1 minus top-2 probability: how close the image is to another answer. */
export function marginOf(p: ImagePrediction): number {
  return p.probs[0] - p.probs[1];
}

/** Whether the top-1 class is the label. */
export function isCorrect(p: ImagePrediction): boolean {
  return p.top[0] === p.label;
}

/**
 * Runs a batch forward and returns each image's top classes and probabilities: forward, softmax
 * and top-k are one command encoder, read back once.
 */
export async function predictBatch(ctx: AuditContext, batch: GpuBatch): Promise<ImagePrediction[]> {
  return (await predictWithFeatures(ctx, batch, null)).predictions;
}

/**
 * `predictBatch`, plus the activations of `featureNode` ([count, width], the bias stage's
 * features) from the same forward pass and the same readback.
 */
export async function predictWithFeatures(
  ctx: AuditContext,
  batch: GpuBatch,
  featureNode: string | null,
): Promise<{ predictions: ImagePrediction[]; features: Float32Array | null }> {
  const { exec } = ctx;
  const gpu = exec.gpu;
  const [b, classes] = exec.outputShape(batch.count);
  const k = Math.min(TOP_K, classes);
  using probs = gpu.tensor([b, classes]);
  using values = gpu.tensor([b, k]);
  using indices = gpu.tensor([b, k], undefined, "u32");
  const summarize = (step: Step, logits: TensorLike) => {
    recordSoftmaxXent(step, exec.kernels.softmaxXent, { logits, probs });
    recordTopK(step, ctx.topK, { x: probs, k, values, indices });
  };
  let tape = null as Tape | null;
  await gpu.run((step) => {
    if (featureNode === null) {
      using logits: Tensor = exec.forward(step, batch.images);
      summarize(step, logits);
    } else {
      // Only a feature read needs a tape, and only that value kept alive.
      tape = exec.forwardWithTape(step, batch.images, { keep: { values: [featureNode] } });
      summarize(step, tape.output);
    }
  });
  using _ = tape;
  const features = tape && featureNode !== null ? [tape.values.get(featureNode)!] : [];
  const [topBytes, valueBytes, featureBytes] = await gpu.readMany([indices, values, ...features]);
  const [top, p] = [new Uint32Array(topBytes), new Float32Array(valueBytes)];
  const predictions = batch.host.indices.map((index, i) => ({
    index,
    label: batch.host.labels[i],
    top: Array.from(top.subarray(i * k, (i + 1) * k)),
    probs: Array.from(p.subarray(i * k, (i + 1) * k)),
  }));
  return { predictions, features: featureBytes ? new Float32Array(featureBytes) : null };
}

/** What the evaluation stage reports. */
export interface Evaluation {
  count: number;
  top1: number;
  /** Share of images whose label is among the top min(5, classes). */
  top5: number;
  perClass: ClassAccuracy[];
  /** confusion[label][prediction] counts. */
  confusion: number[][];
  meanConfidence: number;
  /** Expected calibration error over 15 equal-width bins. */
  ece: number;
  calibration: CalibrationBin[];
}

/** Collects predictions batch by batch; `finish` summarises them. */
export class EvaluationAccumulator {
  readonly predictions: ImagePrediction[] = [];

  constructor(readonly classes: readonly string[]) {}

  add(batch: readonly ImagePrediction[]): void {
    this.predictions.push(...batch);
  }

  finish(): Evaluation {
    return summarizePredictions(this.predictions, this.classes);
  }
}

/** The evaluation statistics of a list of predictions. */
export function summarizePredictions(predictions: readonly ImagePrediction[], classes: readonly string[]): Evaluation {
  const n = predictions.length;
  const correct = predictions.map(isCorrect);
  const confidences = predictions.map(confidenceOf);
  const confusion = confusionMatrix(predictions.map((p) => p.label), predictions.map((p) => p.top[0]), classes.length);
  const { ece, bins } = calibration(confidences, correct);
  const share = (count: number) => (n > 0 ? count / n : 0);
  return {
    count: n,
    top1: share(correct.filter(Boolean).length),
    top5: share(predictions.filter((p) => p.top.includes(p.label)).length),
    perClass: perClassAccuracy(confusion, classes),
    confusion,
    meanConfidence: share(confidences.reduce((a, b) => a + b, 0)),
    ece,
    calibration: bins,
  };
}
