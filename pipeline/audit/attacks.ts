/**
 * L-infinity attacks on a batch, on the GPU: FGSM (Goodfellow et al. 2015, the attack of Stock &
 * Cisse) and PGD (Madry et al. 2018) with a random start. Each image may have its own epsilon, so
 * a bisection over epsilons runs batched too. Images never leave the model's valid input range.
 *
 * Untargeted attacks ascend the cross-entropy of the label; targeted ones descend the
 * cross-entropy of the target class. PGD returns, per image, the iterate with the best loss seen
 * (the clean image included), so its loss never ends worse than where it started. A whole attack
 * is one command encoder; only the predictions (and, when asked, images and losses) are read back.
 *
 * @example
 * ```ts
 * import { type AuditContext, GpuBatch } from "./gpu_batch.ts";
 * import type { ImageBatch } from "./batches.ts";
 * declare const ctx: AuditContext, hostBatch: ImageBatch;
 * using batch = GpuBatch.upload(ctx, hostBatch);
 * const { predictions } = await attackBatch(ctx, batch, 0.1, { kind: "pgd" });
 * ```
 */
import { recordAttackStep, recordKeepBest } from "../../kernels/attack_step.ts";
import type { Step } from "../../kernels/gpu.ts";
import { recordSoftmaxXent } from "../../kernels/softmax_xent.ts";
import type { Tensor, TensorLike } from "../../kernels/tensor.ts";
import { recordTopK } from "../../kernels/top_k.ts";
import { recordCrossEntropyGradient } from "../model/loss.ts";
import type { AuditContext, GpuBatch } from "./gpu_batch.ts";

export type AttackKind = "fgsm" | "pgd";

/** PGD settings; the defaults are 10 steps of epsilon / 4 from a random start. */
export interface PgdSettings {
  steps: number;
  /** Step size as a fraction of epsilon. */
  stepFraction: number;
  /** Start from a uniform random point of the epsilon ball rather than the clean image. */
  randomStart: boolean;
}

export const PGD_DEFAULTS: Readonly<PgdSettings> = Object.freeze({ steps: 10, stepFraction: 0.25, randomStart: true });

export interface AttackOptions extends Partial<PgdSettings> {
  kind: AttackKind;
  /** A target class per image: a targeted attack (default: untargeted). */
  targets?: ArrayLike<number>;
  /**
   * FGSM only: the loss gradient at the clean images for the same labels or targets, when already
   * computed (see `cleanGradient`), so a sweep over epsilons computes it once.
   */
  gradient?: TensorLike;
  /** Also read back the adversarial images and their losses (default false). */
  readImages?: boolean;
}

export interface AttackResult {
  /** Top-1 class of each adversarial image. */
  predictions: Uint32Array;
  /** The adversarial images, NCHW, when `readImages`. */
  images?: Float32Array;
  /** Cross-entropy of the label (of the target, when targeted) at each adversarial image, when `readImages`. */
  loss?: Float32Array;
}

/**
 * Attacks every image of a batch with its epsilon (one number for all, or one per image) and
 * returns the adversarial predictions.
 *
 * @example
 * ```ts
 * import type { AuditContext, GpuBatch } from "./gpu_batch.ts";
 * declare const ctx: AuditContext, batch: GpuBatch; // a batch of two images
 * const fgsm = await attackBatch(ctx, batch, [0.1, 0.05], { kind: "fgsm", readImages: true });
 * const targeted = await attackBatch(ctx, batch, 0.1, { kind: "pgd", targets: [3, 3] });
 * ```
 */
export async function attackBatch(
  ctx: AuditContext,
  batch: GpuBatch,
  epsilon: number | ArrayLike<number>,
  options: AttackOptions,
): Promise<AttackResult> {
  const { exec, attack: kernels, range } = ctx;
  const gpu = exec.gpu;
  const n = batch.count;
  const eps = typeof epsilon === "number" ? new Array<number>(n).fill(epsilon) : Array.from(epsilon);
  if (eps.length !== n) throw new RangeError(`attack: ${eps.length} epsilons for ${n} images`);
  const bad = eps.find((e) => !Number.isFinite(e) || e < 0);
  if (bad !== undefined) throw new RangeError(`attack: epsilon must be finite and >= 0, got ${bad}`);
  const pgd = { ...PGD_DEFAULTS, ...definedOnly(options) };
  const direction = options.targets === undefined ? 1 : -1;
  const shape = batch.images.shape;

  using epsTensor = gpu.tensor([n], eps);
  using targets = options.targets === undefined ? null : gpu.tensor([n], options.targets, "u32");
  const labels = targets ?? batch.labels;
  using x = gpu.tensor(shape);
  using loss = gpu.tensor([n]);
  using predictions = gpu.tensor([n, 1], undefined, "u32");
  const isPgd = options.kind === "pgd";
  using best = isPgd ? gpu.tensor(shape) : null;
  using noise = isPgd && pgd.randomStart ? gpu.tensor(shape, uniformNoise(ctx.random, x.size)) : null;

  const move = (step: Step, grad: TensorLike, scale: number, useSign = true) =>
    recordAttackStep(step, kernels.step, { x, origin: batch.images, grad, eps: epsTensor, scale, range, useSign });
  await gpu.run((step) => {
    step.copy(batch.images, x);
    if (!best) {
      if (options.gradient) move(step, options.gradient, direction);
      else {
        using g = recordCrossEntropyGradient(step, exec, x, labels, { input: true });
        move(step, g.grads.input!, direction);
      }
      recordLossAt(step, ctx, x, labels, loss, predictions);
      return;
    }
    // `loss` holds the best loss so far, starting from the clean image's.
    step.copy(batch.images, best);
    recordLossAt(step, ctx, batch.images, labels, loss);
    if (noise) move(step, noise, 1, false);
    const keep = (at: TensorLike) =>
      recordKeepBest(step, kernels.keepBest, { x, loss: at, best, bestLoss: loss, direction });
    for (let t = 0; t < pgd.steps; t++) {
      using g = recordCrossEntropyGradient(step, exec, x, labels, { input: true, loss: true });
      keep(g.loss!);
      move(step, g.grads.input!, direction * pgd.stepFraction);
    }
    using last = gpu.tensor([n]);
    recordLossAt(step, ctx, x, labels, last);
    keep(last);
    recordLossAt(step, ctx, best, labels, loss, predictions);
  });
  if (!options.readImages) return { predictions: await gpu.readU32(predictions) };
  const [predictionBytes, imageBytes, lossBytes] = await gpu.readMany([predictions, best ?? x, loss]);
  return {
    predictions: new Uint32Array(predictionBytes),
    images: new Float32Array(imageBytes),
    loss: new Float32Array(lossBytes),
  };
}

/**
 * The gradient of the mean cross-entropy w.r.t. the clean images of a batch, for the labels (or
 * the given targets). The caller owns (and disposes) the tensor.
 */
export async function cleanGradient(ctx: AuditContext, batch: GpuBatch, targets?: ArrayLike<number>): Promise<Tensor> {
  const gpu = ctx.exec.gpu;
  using targetTensor = targets === undefined ? null : gpu.tensor([batch.count], targets, "u32");
  let result!: ReturnType<typeof recordCrossEntropyGradient>;
  await gpu.run((step) => {
    result = recordCrossEntropyGradient(step, ctx.exec, batch.images, targetTensor ?? batch.labels, { input: true });
  });
  result.logits.dispose();
  return result.grads.input!;
}

/** Records the cross-entropy at x into `loss` and, when given, the top-1 class into `predictions`. */
function recordLossAt(
  step: Step,
  ctx: AuditContext,
  x: TensorLike,
  labels: TensorLike,
  loss: TensorLike,
  predictions?: TensorLike,
): void {
  const gpu = ctx.exec.gpu;
  using logits = ctx.exec.forward(step, x);
  using probs = gpu.tensor(logits.shape);
  recordSoftmaxXent(step, ctx.exec.kernels.softmaxXent, { logits, probs, labels, loss });
  if (predictions) {
    using values = gpu.tensor([x.shape[0], 1]);
    recordTopK(step, ctx.topK, { x: probs, k: 1, values, indices: predictions });
  }
}

/** Uniform noise in [-1, 1) from a seeded generator. */
function uniformNoise(random: () => number, size: number): Float32Array {
  return Float32Array.from({ length: size }, () => 2 * random() - 1);
}

function definedOnly(options: AttackOptions): Partial<PgdSettings> {
  const out: Partial<PgdSettings> = {};
  if (options.steps !== undefined) out.steps = options.steps;
  if (options.stepFraction !== undefined) out.stepFraction = options.stepFraction;
  if (options.randomStart !== undefined) out.randomStart = options.randomStart;
  return out;
}
