/**
 * The iterative L-infinity and L2 attacks on a batch, on the GPU: PGD (Madry et al. 2018, fixed steps of
 * a fraction of epsilon) and APGD (Croce & Hein 2020, "Reliable evaluation of adversarial
 * robustness with an ensemble of diverse parameter-free attacks"), on the cross-entropy or the
 * DLR loss, untargeted or targeted, with random restarts.
 *
 * APGD as in the paper and its reference code: the step size starts at 2 epsilon; each step mixes
 * the projected step (along the gradient's sign for L-infinity, along the gradient scaled to unit
 * L2 norm for L2, projected onto the ball and then the valid range) with the last move (momentum alpha = 0.75, none on the first step); at
 * checkpoints p_j (the first after 22% of the iterations, each next interval 3% shorter, none
 * shorter than 6%) an image's step size halves, and it restarts from its best point, when fewer
 * than 75% of the steps since the last checkpoint raised its loss, or when its step size was not
 * halved at the last checkpoint and its best loss has not improved since.
 *
 * Each iteration is one command encoder (the masked copies of the last decisions, the step, the
 * forward and backward pass); only the per-image losses and predictions are read back, and the
 * schedule's decisions are taken on them here. The point an attack returns is, per image, the
 * first iterate that succeeded (a prediction other than the label, or the target when the goal is
 * the target), and otherwise the iterate of the highest loss, the clean image included. So an
 * image that succeeded is done: once at most half the rows still being computed are not done,
 * the done ones are dropped (their state read back, the rest uploaded again), and the attack
 * stops when every image is done; the returned points are those it would have reached anyway.
 * Later restarts attack only the images not fooled yet. Random starts are drawn per image (see `startNoise`), so an image's attack is the same
 * in any batch.
 *
 * @example
 * ```ts
 * import type { AuditContext, GpuBatch } from "./gpu_batch.ts";
 * declare const ctx: AuditContext, batch: GpuBatch; // a batch of two images
 * const apgd = await iterativeAttack(ctx, batch, [0.1, 0.1], { ...APGD_DEFAULTS, loss: "dlr" });
 * console.log(apgd.predictions, apgd.success);
 * ```
 */
import {
  type MomentumStepArgs,
  recordDlr,
  recordL2Step,
  recordMomentumStep,
  recordSelect,
} from "../../kernels/attack_iterate.ts";
import { recordAttackStep } from "../../kernels/attack_step.ts";
import type { Step } from "../../kernels/gpu.ts";
import { recordSoftmaxXent, recordSoftmaxXentBackward } from "../../kernels/softmax_xent.ts";
import type { Tensor, TensorLike } from "../../kernels/tensor.ts";
import { recordTopK } from "../../kernels/top_k.ts";
import { mulberry32 } from "../io/prng.ts";
import { type AuditContext, GpuBatch } from "./gpu_batch.ts";

/** The threat model: the norm of the perturbation's ball. */
export type Norm = "linf" | "l2";

/** The settings of one iterative attack. */
export interface IterativeSettings {
  /** The ball the perturbation stays in (default "linf"). */
  norm?: Norm;
  /** "apgd": the adaptive step size, momentum and checkpoints; "pgd": `steps` steps of stepFraction x epsilon. */
  schedule: "apgd" | "pgd";
  /** The loss ascended: cross-entropy, or the DLR loss (needs >= 3 classes, >= 4 when targeted). */
  loss: "ce" | "dlr";
  /** Iterations (gradient steps) per restart. */
  steps: number;
  /** PGD's step size as a fraction of epsilon (APGD sets its own). */
  stepFraction: number;
  /** Start from a uniform random point of the ball rather than the clean image. */
  randomStart: boolean;
  /** Runs from different random starts; each later one attacks only the images not yet fooled. */
  restarts: number;
}

/** AutoAttack's APGD-CE: 100 iterations, one run. */
export const APGD_DEFAULTS: Readonly<IterativeSettings> = Object.freeze({
  schedule: "apgd",
  loss: "ce",
  steps: 100,
  stepFraction: 0.25,
  randomStart: true,
  restarts: 1,
});

export interface IterativeOptions {
  /** A target class per image: the loss pulls towards it (default: untargeted). */
  targets?: ArrayLike<number>;
  /**
   * Success: any class but the label ("misclassify", the default, as in AutoAttack's targeted
   * APGD-T), or the target itself ("target").
   */
  goal?: "misclassify" | "target";
  /** Also read back the returned images (default false). */
  readImages?: boolean;
  /** The index of the first restart (default 0): a later attack's fresh random starts. */
  firstRestart?: number;
}

export interface IterativeResult {
  /** Top-1 class at each returned point. */
  predictions: Uint32Array;
  /** Whether each image's returned point succeeded. */
  success: boolean[];
  /** The objective (the loss ascended) at each returned point. */
  objective: Float64Array;
  /** The returned points, NCHW, when `readImages`. */
  images?: Float32Array;
}

/**
 * Attacks every image of a batch with its epsilon (one number for all, or one per image).
 */
export async function iterativeAttack(
  ctx: AuditContext,
  batch: GpuBatch,
  epsilon: number | ArrayLike<number>,
  settings: IterativeSettings,
  options: IterativeOptions = {},
): Promise<IterativeResult> {
  const n = batch.count;
  const eps = typeof epsilon === "number" ? new Array<number>(n).fill(epsilon) : Array.from(epsilon);
  if (eps.length !== n) throw new RangeError(`attack: ${eps.length} epsilons for ${n} images`);
  const bad = eps.find((e) => !Number.isFinite(e) || e < 0);
  if (bad !== undefined) throw new RangeError(`attack: epsilon must be finite and >= 0, got ${bad}`);
  if (!(settings.steps >= 1 && settings.restarts >= 1)) throw new RangeError("attack: steps and restarts must be >= 1");
  const first = options.firstRestart ?? 0;
  const best = await singleRun(ctx, batch, eps, settings, options, first);
  for (let r = first + 1; r < first + settings.restarts && settings.randomStart; r++) {
    const open = best.success.flatMap((s, i) => (s ? [] : [i]));
    if (open.length === 0) break;
    using sub = GpuBatch.upload(ctx, batch.host, open);
    const targets = options.targets && open.map((i) => options.targets![i]);
    const run = await singleRun(ctx, sub, open.map((i) => eps[i]), settings, { ...options, targets }, r);
    mergeRun(best, run, open);
  }
  return best;
}

/** Takes, for the images at `positions` of `into`, a later run's point where it fooled the model or its loss is higher. */
function mergeRun(into: IterativeResult, run: IterativeResult, positions: number[]): void {
  const per = into.images ? into.images.length / into.success.length : 0;
  positions.forEach((i, k) => {
    if (!(run.success[k] || run.objective[k] > into.objective[i])) return;
    into.predictions[i] = run.predictions[k];
    into.success[i] = run.success[k];
    into.objective[i] = run.objective[k];
    into.images?.set(run.images!.subarray(k * per, (k + 1) * per), i * per);
  });
}

/**
 * Uniform noise in [-1, 1) for a random start: each image's from its own generator, seeded by
 * (seed, the image's data index, the restart), so it does not depend on the batch.
 */
export function startNoise(seed: number, indices: readonly number[], perImage: number, restart: number): Float32Array {
  const out = new Float32Array(indices.length * perImage);
  indices.forEach((index, i) => {
    const mixed = Math.imul(seed ^ 0x2545f491, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca77) ^
      Math.imul(restart + 1, 0xc2b2ae3d);
    const random = mulberry32(mixed >>> 0);
    for (let k = 0; k < perImage; k++) out[i * perImage + k] = 2 * random() - 1;
  });
  return out;
}

/** APGD's checkpoint intervals for `steps` iterations: first, shrink per checkpoint, shortest. */
export function apgdIntervals(steps: number): { first: number; shrink: number; shortest: number } {
  return {
    first: Math.max(Math.floor(0.22 * steps), 1),
    shrink: Math.max(Math.floor(0.03 * steps), 1),
    shortest: Math.max(Math.floor(0.06 * steps), 1),
  };
}

/** The share of rising steps below which APGD halves the step size (rho). */
const RHO = 0.75;
/** APGD's momentum: the weight of the new step. */
const ALPHA = 0.75;

/** The GPU state of the images still attacked (rows of the batch, in order). Dispose it to free it. */
class Live implements Disposable {
  readonly tensors: Tensor[];
  constructor(
    readonly rows: number[],
    readonly x: Tensor,
    readonly xPrev: Tensor,
    readonly bestX: Tensor,
    readonly grad: Tensor,
    readonly bestGrad: Tensor,
    readonly out: Tensor,
    readonly origin: Tensor,
    readonly eps: Tensor,
    readonly labels: Tensor,
    readonly targets: Tensor | null,
  ) {
    this.tensors = [x, xPrev, bestX, grad, bestGrad, out, origin, eps, labels, ...(targets ? [targets] : [])];
  }

  [Symbol.dispose](): void {
    this.tensors.forEach((t) => t.dispose());
  }
}

/** Rows `keep` of a [rows, per] array. */
function gatherRows(data: ArrayLike<number>, per: number, keep: readonly number[]): Float32Array {
  const out = new Float32Array(keep.length * per);
  keep.forEach((r, k) => {
    for (let j = 0; j < per; j++) out[k * per + j] = data[r * per + j];
  });
  return out;
}

async function singleRun(
  ctx: AuditContext,
  batch: GpuBatch,
  eps: number[],
  settings: IterativeSettings,
  options: IterativeOptions,
  restart: number,
): Promise<IterativeResult> {
  const gpu = ctx.exec.gpu;
  const n = batch.count;
  const inputShape = batch.images.shape.slice(1);
  const per = batch.images.size / n;
  const labels = batch.host.labels;
  const targets = options.targets ? Array.from(options.targets) : null;
  if (targets && targets.length !== n) throw new RangeError(`attack: ${targets.length} targets for ${n} images`);
  const goalTarget = options.goal === "target" && targets !== null;
  const succeeded = (prediction: number, i: number) =>
    goalTarget ? prediction === targets![i] : prediction !== labels[i];
  // Targeted cross-entropy descends the target's loss; the DLR losses are built to be ascended.
  const direction = settings.loss === "ce" && targets ? -1 : 1;

  /** Records the objective's loss (and, with `gradInto`, its input gradient) and the top-1 at `at`. */
  const evaluate = (
    step: Step,
    live: Live,
    at: TensorLike,
    out: { loss: TensorLike; predictions: TensorLike; grad?: TensorLike },
  ) => {
    using tape = ctx.exec.forwardWithTape(step, at, { keep: "input-gradient" });
    const logits = tape.output;
    using dlogits = gpu.tensor(logits.shape);
    if (settings.loss === "dlr") {
      const targets = live.targets ?? undefined;
      recordDlr(step, ctx.iterate.dlr, { logits, labels: live.labels, targets, loss: out.loss, dlogits });
    } else {
      const against = live.targets ?? live.labels;
      using probs = gpu.tensor(logits.shape);
      recordSoftmaxXent(step, ctx.exec.kernels.softmaxXent, { logits, probs, labels: against, loss: out.loss });
      if (out.grad) recordSoftmaxXentBackward(step, ctx.exec.kernels.softmaxXent, { logits, labels: against, dlogits });
    }
    using values = gpu.tensor([at.shape[0], 1]);
    recordTopK(step, ctx.topK, { x: logits, k: 1, values, indices: out.predictions });
    if (!out.grad) return;
    using grads = ctx.exec.backward(step, tape, dlogits, { input: true });
    step.copy(grads.input!, out.grad);
  };
  const upload = (rows: number[], images: (Float32Array | null)[]) => {
    const shape = [rows.length, ...inputShape];
    const [x, xPrev, bestX, grad, bestGrad, out] = images.map((data) => gpu.tensor(shape, data ?? undefined));
    return new Live(
      rows,
      x,
      xPrev,
      bestX,
      grad,
      bestGrad,
      out,
      gpu.tensor(shape, gatherRows(batch.host.images, per, rows)),
      gpu.tensor([rows.length], rows.map((r) => eps[r])),
      gpu.tensor([rows.length], rows.map((r) => labels[r]), "u32"),
      targets ? gpu.tensor([rows.length], rows.map((r) => targets[r]), "u32") : null,
    );
  };
  const all = Array.from({ length: n }, (_, i) => i);
  let live = upload(all, [null, null, null, null, null, null]);
  try {
    using noise = settings.randomStart
      ? gpu.tensor(batch.images.shape, startNoise(ctx.seed, batch.host.indices, per, restart))
      : null;
    using cleanLoss = gpu.tensor([n]);
    using cleanPredictions = gpu.tensor([n, 1], undefined, "u32");
    using loss0 = gpu.tensor([n]);
    using predictions0 = gpu.tensor([n, 1], undefined, "u32");
    const first = live;
    await gpu.run((step) => {
      const { x, origin } = first;
      step.copy(origin, x);
      step.copy(origin, first.out);
      if (noise && settings.norm === "l2") {
        // A point of the sphere of radius epsilon along the noise, clipped to the range (as AutoAttack's L2 start).
        const { eps, xPrev } = first;
        const args = {
          x,
          xPrev,
          origin,
          grad: noise,
          eps,
          eta: eps,
          alpha: 1,
          direction: 1 as const,
          range: ctx.range,
        };
        recordL2Step(step, ctx.iterate.l2, args);
      } else if (noise) {
        const args = { x, origin, grad: noise, eps: first.eps, scale: 1, range: ctx.range, useSign: false };
        recordAttackStep(step, ctx.attack.step, args);
      }
      step.copy(x, first.xPrev);
      evaluate(step, first, origin, { loss: cleanLoss, predictions: cleanPredictions });
      evaluate(step, first, x, { loss: loss0, predictions: predictions0, grad: first.grad });
      step.copy(x, first.bestX);
      step.copy(first.grad, first.bestGrad);
    });
    const [cleanLossBytes, cleanPredBytes, lossBytes, predBytes] = await gpu.readMany([
      cleanLoss,
      cleanPredictions,
      loss0,
      predictions0,
    ]);
    const objectiveOf = (bytes: ArrayBuffer) => Float64Array.from(new Float32Array(bytes), (v) => direction * v);
    // Per batch image: the returned point's state (the clean image unless the start beats it) ...
    const outObjective = objectiveOf(cleanLossBytes);
    const outPrediction = new Uint32Array(cleanPredBytes);
    const outSuccess = Array.from(outPrediction, succeeded);
    const images = options.readImages ? Float32Array.from(batch.host.images) : undefined;
    // ... and the schedule's, per live row.
    let objective = objectiveOf(lossBytes);
    let prediction = new Uint32Array(predBytes);
    let bestObjective = Float64Array.from(objective);
    let eta = eps.map((e) => (settings.schedule === "apgd" ? 2 * e : settings.stepFraction * e));
    let rises = new Array<number>(n).fill(0);
    let bestAtCheck = Float64Array.from(bestObjective);
    let halvedAtCheck = new Array<boolean>(n).fill(true);
    let restartMask = new Array<boolean>(n).fill(false);
    let bestMask = new Array<boolean>(n).fill(false);
    const intervals = apgdIntervals(settings.steps);
    let interval = intervals.first;
    let sinceCheck = 0;

    /** Records the decided copies: best and returned points from x, and restarts of x from the best. */
    const applyCopies = (
      step: Step,
      at: Live,
      best: TensorLike | null,
      out: TensorLike | null,
      restart: TensorLike | null,
    ) => {
      const select = (mask: TensorLike | null, src: TensorLike, dst: TensorLike) =>
        mask && recordSelect(step, ctx.iterate.select, { mask, src, dst });
      select(best, at.x, at.bestX);
      select(best, at.grad, at.bestGrad);
      select(out, at.x, at.out);
      select(restart, at.bestX, at.x);
      select(restart, at.bestGrad, at.grad);
    };

    /** Folds the last evaluated iterates into the returned points; true for the rows it replaced. */
    const keepOut = () =>
      live.rows.map((i, k) => {
        if (outSuccess[i]) return false;
        const success = succeeded(prediction[k], i);
        if (!success && !(objective[k] > outObjective[i])) return false;
        outSuccess[i] = success;
        outObjective[i] = objective[k];
        outPrediction[i] = prediction[k];
        return true;
      });
    let outMask = keepOut();

    /** Applies the pending copies, then drops the rows whose returned point succeeded (they are final). */
    const compact = async () => {
      // Masks made before recording: a mask disposed while recording could be reused, and rewritten, by the next.
      using bestSel = maskTensor(gpu, bestMask);
      using outSel = maskTensor(gpu, outMask);
      using restartSel = maskTensor(gpu, restartMask);
      await gpu.run((step) => applyCopies(step, live, bestSel, outSel, restartSel));
      const keep = live.rows.flatMap((i, k) => (outSuccess[i] ? [] : [k]));
      const state = [live.x, live.xPrev, live.bestX, live.grad, live.bestGrad, live.out];
      const host = (await gpu.readMany(state)).map((b) => new Float32Array(b));
      if (images) {
        live.rows.forEach((i, k) => outSuccess[i] && images.set(host[5].subarray(k * per, (k + 1) * per), i * per));
      }
      const next = upload(keep.map((k) => live.rows[k]), host.map((data) => gatherRows(data, per, keep)));
      live[Symbol.dispose]();
      live = next;
      const pick = <T>(values: ArrayLike<T>) => keep.map((k) => values[k]);
      objective = Float64Array.from(pick(objective));
      prediction = Uint32Array.from(pick(prediction));
      bestObjective = Float64Array.from(pick(bestObjective));
      eta = pick(eta);
      rises = pick(rises);
      bestAtCheck = Float64Array.from(pick(bestAtCheck));
      halvedAtCheck = pick(halvedAtCheck);
      restartMask = bestMask = outMask = keep.map(() => false);
    };

    for (let t = 1; t <= settings.steps && live.rows.some((i) => !outSuccess[i]); t++) {
      // Fewer than half the rows still to attack: drop the finished ones rather than compute them.
      if (2 * live.rows.filter((i) => !outSuccess[i]).length <= live.rows.length) await compact();
      const rows = live.rows.length;
      using bestSel = maskTensor(gpu, bestMask);
      using outSel = maskTensor(gpu, outMask);
      using restartSel = maskTensor(gpu, restartMask);
      using etaTensor = gpu.tensor([rows], eta);
      using loss = gpu.tensor([rows]);
      using predictions = gpu.tensor([rows, 1], undefined, "u32");
      const l = live;
      await gpu.run((step) => {
        applyCopies(step, l, bestSel, outSel, restartSel);
        const alpha = settings.schedule === "apgd" && t > 1 ? ALPHA : 1;
        const record = settings.norm === "l2"
          ? (args: MomentumStepArgs) => recordL2Step(step, ctx.iterate.l2, args)
          : (args: MomentumStepArgs) => recordMomentumStep(step, ctx.iterate.momentum, args);
        record({
          x: l.x,
          xPrev: l.xPrev,
          grad: l.grad,
          origin: l.origin,
          eps: l.eps,
          eta: etaTensor,
          alpha,
          direction,
          range: ctx.range,
        });
        evaluate(step, l, l.x, { loss, predictions, grad: l.grad });
      });
      const [lBytes, pBytes] = await gpu.readMany([loss, predictions]);
      const previous = objective;
      objective = objectiveOf(lBytes);
      prediction = new Uint32Array(pBytes);
      outMask = keepOut();
      bestMask = Array.from(objective, (o, k) => o > bestObjective[k]);
      bestMask.forEach((b, k) => b && (bestObjective[k] = objective[k]));
      objective.forEach((o, k) => o > previous[k] && rises[k]++);
      restartMask = restartMask.map(() => false);
      if (settings.schedule !== "apgd" || ++sinceCheck < interval) continue;
      for (let k = 0; k < rows; k++) {
        const oscillating = rises[k] <= interval * RHO;
        const stalled = !halvedAtCheck[k] && bestAtCheck[k] >= bestObjective[k];
        halvedAtCheck[k] = oscillating || stalled;
        bestAtCheck[k] = bestObjective[k];
        rises[k] = 0;
        if (!halvedAtCheck[k]) continue;
        eta[k] /= 2;
        restartMask[k] = true;
      }
      sinceCheck = 0;
      interval = Math.max(interval - intervals.shrink, intervals.shortest);
    }
    if (images) {
      // The rows dropped so far are in `images`; the rest's points are in `out`, once the last copies are done.
      using outSel = maskTensor(gpu, outMask);
      await gpu.run((step) =>
        outSel && recordSelect(step, ctx.iterate.select, { mask: outSel, src: live.x, dst: live.out })
      );
      const rest = new Float32Array(await gpu.read(live.out));
      live.rows.forEach((i, k) => images.set(rest.subarray(k * per, (k + 1) * per), i * per));
    }
    return { predictions: outPrediction, success: outSuccess, objective: outObjective, images };
  } finally {
    live[Symbol.dispose]();
  }
}

/** A u32 mask tensor, or null when nothing is selected (the copy is then skipped). */
function maskTensor(gpu: AuditContext["exec"]["gpu"], mask: readonly boolean[]) {
  return mask.some(Boolean) ? gpu.tensor([mask.length], mask.map(Number), "u32") : null;
}
