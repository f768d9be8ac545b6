/**
 * L-infinity and L2 attacks on a batch, on the GPU: FGSM (Goodfellow et al. 2015, the attack of
 * Stock & Cisse; for L2 the fast gradient method, x + epsilon g / ||g||_2 per image, then clipped
 * to the range), and the iterative PGD (Madry et al. 2018) and APGD (Croce & Hein 2020) with a random
 * start (iterative_attack.ts). Each image may have its own epsilon, so a bisection over epsilons
 * runs batched too. Images never leave the model's valid input range.
 *
 * Untargeted attacks ascend the cross-entropy of the label; targeted ones descend the
 * cross-entropy of the target class. FGSM is one command encoder; only the predictions (and, when
 * asked, images and losses) are read back.
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
import { recordL2Step } from "../../kernels/attack_iterate.ts";
import { recordAttackStep } from "../../kernels/attack_step.ts";
import type { Step } from "../../kernels/gpu.ts";
import { recordSoftmaxXent } from "../../kernels/softmax_xent.ts";
import type { Tensor, TensorLike } from "../../kernels/tensor.ts";
import { recordTopK } from "../../kernels/top_k.ts";
import { recordCrossEntropyGradient } from "../model/loss.ts";
import type { AuditContext, GpuBatch } from "./gpu_batch.ts";
import {
  APGD_DEFAULTS,
  iterativeAttack,
  type IterativeOptions,
  type IterativeSettings,
  type Norm,
} from "./iterative_attack.ts";

/** FGSM, PGD, and APGD on the cross-entropy or the DLR loss (see iterative_attack.ts). */
export type AttackKind = "fgsm" | "pgd" | "apgd-ce" | "apgd-dlr";

/** PGD settings; the defaults are 10 steps of epsilon / 4 from a random start. */
export interface PgdSettings {
  steps: number;
  /** Step size as a fraction of epsilon. */
  stepFraction: number;
  /** Start from a uniform random point of the epsilon ball rather than the clean image. */
  randomStart: boolean;
}

export const PGD_DEFAULTS: Readonly<PgdSettings> = Object.freeze({ steps: 10, stepFraction: 0.25, randomStart: true });

export interface AttackOptions extends Partial<PgdSettings>, Pick<IterativeOptions, "goal" | "firstRestart"> {
  kind: AttackKind;
  /** The threat model (default "linf"). */
  norm?: Norm;
  /** A target class per image: a targeted attack (default: untargeted). */
  targets?: ArrayLike<number>;
  /** APGD's iterations (default 100, AutoAttack's). */
  apgdSteps?: number;
  /** Random restarts of the iterative attacks (default 1). */
  restarts?: number;
  /**
   * FGSM only: the loss gradient at the clean images for the same labels or targets, when already
   * computed (see `cleanGradient`), so a sweep over epsilons computes it once.
   */
  gradient?: TensorLike;
  /** Also read back the adversarial images (and FGSM's losses; default false). */
  readImages?: boolean;
}

export interface AttackResult {
  /** Top-1 class of each adversarial image. */
  predictions: Uint32Array;
  /** The iterative attacks: whether each image was fooled (reached its target, with goal "target"). */
  success?: boolean[];
  /** The adversarial images, NCHW, when `readImages`. */
  images?: Float32Array;
  /** FGSM: the cross-entropy of the label (of the target, when targeted) at each adversarial image, when `readImages`. */
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
  if (options.kind !== "fgsm") {
    const { predictions, images, success } = await iterativeAttack(
      ctx,
      batch,
      epsilon,
      iterativeSettings(options),
      options,
    );
    return { predictions, images, success };
  }
  const { exec, attack: kernels, range } = ctx;
  const gpu = exec.gpu;
  const n = batch.count;
  const eps = typeof epsilon === "number" ? new Array<number>(n).fill(epsilon) : Array.from(epsilon);
  if (eps.length !== n) throw new RangeError(`attack: ${eps.length} epsilons for ${n} images`);
  const bad = eps.find((e) => !Number.isFinite(e) || e < 0);
  if (bad !== undefined) throw new RangeError(`attack: epsilon must be finite and >= 0, got ${bad}`);
  const direction = options.targets === undefined ? 1 : -1;

  using epsTensor = gpu.tensor([n], eps);
  using targets = options.targets === undefined ? null : gpu.tensor([n], options.targets, "u32");
  const labels = targets ?? batch.labels;
  using x = gpu.tensor(batch.images.shape);
  using scratch = options.norm === "l2" ? gpu.tensor(batch.images.shape) : null;
  using loss = gpu.tensor([n]);
  using predictions = gpu.tensor([n, 1], undefined, "u32");
  await gpu.run((step) => {
    step.copy(batch.images, x);
    const origin = batch.images;
    const move = (grad: TensorLike) =>
      scratch
        ? recordL2Step(step, ctx.iterate.l2, {
          ...{ x, xPrev: scratch, origin, grad, eps: epsTensor, eta: epsTensor },
          ...{ alpha: 1, direction: direction as 1 | -1, range },
        })
        : recordAttackStep(step, kernels.step, { x, origin, grad, eps: epsTensor, scale: direction, range });
    if (options.gradient) move(options.gradient);
    else {
      using g = recordCrossEntropyGradient(step, exec, x, labels, { input: true });
      move(g.grads.input!);
    }
    recordLossAt(step, ctx, x, labels, loss, predictions);
  });
  const [predictionBytes, imageBytes, lossBytes] = await gpu.readMany(
    options.readImages ? [predictions, x, loss] : [predictions],
  );
  const found = new Uint32Array(predictionBytes);
  const wanted = options.goal === "target" ? options.targets : undefined;
  return {
    predictions: found,
    ...(wanted ? { success: Array.from(found, (p, i) => p === wanted[i]) } : {}),
    ...(options.readImages ? { images: new Float32Array(imageBytes), loss: new Float32Array(lossBytes) } : {}),
  };
}

/** The iterative attack an attack kind names, with the options' settings. */
export function iterativeSettings(options: AttackOptions): IterativeSettings {
  const pgd = { ...PGD_DEFAULTS, ...definedOnly(options) };
  const restarts = options.restarts ?? 1;
  const norm = options.norm ?? "linf";
  if (options.kind === "pgd") return { ...APGD_DEFAULTS, ...pgd, schedule: "pgd", restarts, norm };
  const steps = options.apgdSteps ?? APGD_DEFAULTS.steps;
  return { ...APGD_DEFAULTS, loss: options.kind === "apgd-dlr" ? "dlr" : "ce", steps, restarts, norm };
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

/** Records the cross-entropy at x into `loss` and the top-1 class into `predictions`. */
function recordLossAt(
  step: Step,
  ctx: AuditContext,
  x: TensorLike,
  labels: TensorLike,
  loss: TensorLike,
  predictions: TensorLike,
): void {
  const gpu = ctx.exec.gpu;
  using logits = ctx.exec.forward(step, x);
  using probs = gpu.tensor(logits.shape);
  recordSoftmaxXent(step, ctx.exec.kernels.softmaxXent, { logits, probs, labels, loss });
  using values = gpu.tensor([x.shape[0], 1]);
  recordTopK(step, ctx.topK, { x: probs, k: 1, values, indices: predictions });
}

function definedOnly(options: AttackOptions): Partial<PgdSettings> {
  const out: Partial<PgdSettings> = {};
  if (options.steps !== undefined) out.steps = options.steps;
  if (options.stepFraction !== undefined) out.stepFraction = options.stepFraction;
  if (options.randomStart !== undefined) out.randomStart = options.randomStart;
  return out;
}
