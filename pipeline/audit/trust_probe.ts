/**
 * What the trust checks look at per batch, before any attack (after AutoAttack's checks, Croce &
 * Hein 2020, and Carlini et al. 2019): the clean input gradient (which FGSM reuses), the images
 * whose gradient is zero or near zero relative to their loss, the images whose logits differ
 * between two identical forward passes (a randomised model), and the images whose outputs look
 * like probabilities (a softmax exported with the model: its saturated outputs mask gradients).
 * Every flag is a list of positions in the batch, so the report can name the images.
 *
 * @example
 * ```ts
 * import type { AuditContext, GpuBatch } from "./gpu_batch.ts";
 * declare const ctx: AuditContext, batch: GpuBatch;
 * using probe = await probeBatch(ctx, batch);
 * console.log(probe.nearZeroGradient, probe.unstableLogits, probe.probabilityOutputs);
 * ```
 */
import type { Tensor } from "../../kernels/tensor.ts";
import { recordCrossEntropyGradient } from "../model/loss.ts";
import type { AuditContext, GpuBatch } from "./gpu_batch.ts";

/** The thresholds of the per-image flags. */
export const PROBE_THRESHOLDS = Object.freeze({
  /**
   * A gradient is near zero when the first-order loss change of moving every pixel across the
   * whole input range, |g|_1 x range width, is below this share of the loss (and of 1e-30).
   */
  relativeGradient: 1e-4,
  /** Logits of two identical passes differ by more than this, relative to the largest logit. */
  logitJitter: 1e-5,
  /** Outputs all in [0, 1] that sum to 1 within this look like probabilities. */
  probabilitySum: 1e-3,
});

/** One batch's probe; dispose it to free the gradient. */
export interface BatchProbe extends Disposable {
  /** [B, ...] the gradient of the mean cross-entropy of the labels at the clean images. */
  gradient: Tensor;
  /** Each clean image's logits (rows of the model's output). */
  logits: Float32Array;
  classes: number;
  /** Positions whose input gradient is exactly zero everywhere. */
  zeroGradient: number[];
  /** Positions whose gradient is near zero relative to the loss (the exact zeros included). */
  nearZeroGradient: number[];
  /** Positions whose logits differ between two identical forward passes. */
  unstableLogits: number[];
  /** Positions whose outputs are in [0, 1] and sum to 1. */
  probabilityOutputs: number[];
}

/** Probes a batch: one forward + backward for the gradient and loss, and a second forward. */
export async function probeBatch(ctx: AuditContext, batch: GpuBatch): Promise<BatchProbe> {
  const gpu = ctx.exec.gpu;
  const n = batch.count;
  let result!: ReturnType<typeof recordCrossEntropyGradient>;
  let again!: Tensor;
  await gpu.run((step) => {
    result = recordCrossEntropyGradient(step, ctx.exec, batch.images, batch.labels, { input: true, loss: true });
    again = ctx.exec.forward(step, batch.images);
  });
  const gradient = result.grads.input!;
  using _again = again;
  using _logits = result.logits;
  using _loss = result.loss!;
  const [g, l, z1, z2] = (await gpu.readMany([gradient, result.loss!, result.logits, again])).map((b) =>
    new Float32Array(b)
  );
  const classes = z1.length / n;
  const per = g.length / n;
  const zeroGradient: number[] = [], nearZeroGradient: number[] = [];
  const unstableLogits: number[] = [], probabilityOutputs: number[] = [];
  const t = PROBE_THRESHOLDS;
  const width = ctx.range[1] - ctx.range[0];
  for (let i = 0; i < n; i++) {
    // The gradient is of the batch's mean loss: n times it is the image's own.
    let l1 = 0;
    for (let k = i * per; k < (i + 1) * per; k++) l1 += Math.abs(g[k]);
    l1 *= n;
    if (l1 === 0) zeroGradient.push(i);
    if (l1 * width <= Math.max(t.relativeGradient * Math.abs(l[i]), 1e-30)) nearZeroGradient.push(i);
    const row1 = z1.subarray(i * classes, (i + 1) * classes), row2 = z2.subarray(i * classes, (i + 1) * classes);
    const scale = Math.max(1, ...Array.from(row1, Math.abs));
    if (row1.some((v, k) => !(Math.abs(v - row2[k]) <= t.logitJitter * scale))) unstableLogits.push(i);
    const sum = row1.reduce((s, v) => s + v, 0);
    if (row1.every((v) => v >= 0 && v <= 1) && Math.abs(sum - 1) <= t.probabilitySum) probabilityOutputs.push(i);
  }
  result.grads.params.forEach((p) => p.dispose());
  return {
    gradient,
    logits: z1,
    classes,
    zeroGradient,
    nearZeroGradient,
    unstableLogits,
    probabilityOutputs,
    [Symbol.dispose]() {
      gradient.dispose();
    },
  };
}
