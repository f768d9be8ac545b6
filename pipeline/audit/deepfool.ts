/**
 * DeepFool (Moosavi-Dezfooli, Fawzi & Frossard, CVPR 2016), a minimal-norm estimate: per image,
 * the size of a small perturbation that flips it, in the L-infinity or the L2 norm.
 *
 * Each step linearises the model at the current point: for each candidate class k (the clean
 * image's `candidates` highest logits but the label), f_k = logit_k - logit_label and w_k its
 * input gradient; the nearest linearised boundary is the k of least |f_k| / ||w_k||_q (q the dual
 * norm: L1 for L-infinity, L2 for L2), and the step to it is (|f_k| + 1e-4) / ||w_k||_2^2 w_k for
 * L2, (|f_k| + 1e-4) / ||w_k||_1 sign(w_k) for L-infinity. The steps add up to r, and the point is
 * x + (1 + overshoot) r clipped to the valid range (the paper's overshoot 0.02), until the model's
 * prediction leaves the label or `steps` steps are spent. The estimate is the norm of the final
 * point's perturbation, at which a flip was seen: so it is an upper bound on the minimal one too,
 * usually tighter than a sweep's. On a linear model one step reaches the boundary.
 *
 * Batched on the GPU: per step, one forward pass and a backward pass per candidate class for all
 * the images still unflipped; the gradients are read back and each image's step is taken here, in
 * float64. It draws nothing at random, so an image's estimate does not depend on its batch.
 *
 * @example
 * ```ts
 * import type { AuditContext, GpuBatch } from "./gpu_batch.ts";
 * declare const ctx: AuditContext, batch: GpuBatch;
 * const { estimates } = await deepFool(ctx, batch, { ...DEEPFOOL_DEFAULTS, norm: "l2" });
 * console.log(estimates); // per image: the norm of the flipping perturbation, null when none flipped it
 * ```
 */
import { type AuditContext, GpuBatch, selectImages } from "./gpu_batch.ts";
import type { Norm } from "./iterative_attack.ts";

/** DeepFool's settings. */
export interface DeepFoolSettings {
  norm: Norm;
  /** Steps at most per image. */
  steps: number;
  /** Classes considered: the clean image's highest logits, its label included. */
  candidates: number;
  /** The paper's overshoot: the point is x + (1 + overshoot) r. */
  overshoot: number;
}

/** The paper's settings: 10 candidate classes, overshoot 0.02, at most 50 steps; L-infinity. */
export const DEEPFOOL_DEFAULTS: Readonly<DeepFoolSettings> = Object.freeze({
  norm: "linf",
  steps: 50,
  candidates: 10,
  overshoot: 0.02,
});

export interface DeepFoolResult {
  /** Per image of the batch: its perturbation's norm where it flipped, null where it did not (or was misclassified). */
  estimates: (number | null)[];
  /** Per image: the steps taken (0 for a misclassified image). */
  steps: number[];
  /** The final points, NCHW. */
  images: Float32Array;
}

/** Runs DeepFool on the batch's correctly classified images (the label is the clean top-1). */
export async function deepFool(
  ctx: AuditContext,
  batch: GpuBatch,
  settings: DeepFoolSettings,
): Promise<DeepFoolResult> {
  if (!(settings.steps >= 1 && settings.candidates >= 2)) throw new RangeError("deepfool: steps >= 1, candidates >= 2");
  const n = batch.count, per = batch.host.images.length / n;
  const origin = batch.host.images, labels = batch.host.labels;
  const images = Float32Array.from(origin);
  const total = new Float64Array(n * per);
  const estimates: (number | null)[] = new Array(n).fill(null);
  const steps = new Array<number>(n).fill(0);
  const clean = await linearise(ctx, batch, null);
  const rowOf = (logits: Float32Array, k: number) => logits.subarray(k * clean.classes, (k + 1) * clean.classes);
  const candidates = Array.from(labels, (_, i) => topClasses(rowOf(clean.logits, i), settings.candidates));
  let live = candidates.flatMap((c, i) => (c[0] === labels[i] ? [i] : []));
  const [lo, hi] = ctx.range;
  for (let t = 0; live.length > 0; t++) {
    using sub = GpuBatch.upload(ctx, selectImages({ ...batch.host, images }, live));
    // At the step cap only the predictions are needed.
    const more = t < settings.steps;
    const { logits, grads } = await linearise(ctx, sub, more ? live.map((i) => candidates[i]) : null);
    const next: number[] = [];
    live.forEach((i, k) => {
      const row = rowOf(logits, k);
      if (topClasses(row, 1)[0] !== labels[i]) {
        estimates[i] = perturbationNorm(images, origin, i, per, settings.norm);
        return;
      }
      if (!more) return;
      const w = nearestBoundary(row, candidates[i], labels[i], (r) => grads[r].subarray(k * per, (k + 1) * per));
      steps[i]++;
      next.push(i);
      if (!w) return; // every gradient zero: no direction, the point stays
      const l2 = w.grad.reduce((s, v) => s + v * v, 0), l1 = w.grad.reduce((s, v) => s + Math.abs(v), 0);
      const size = Math.abs(w.f) + 1e-4;
      for (let j = 0; j < per; j++) {
        const d = i * per + j, g = w.grad[j];
        total[d] += settings.norm === "l2" ? size / l2 * g : size / l1 * Math.sign(g);
        images[d] = Math.min(hi, Math.max(lo, origin[d] + (1 + settings.overshoot) * total[d]));
      }
    });
    live = next;
  }
  return { estimates, steps, images };

  /** The candidate whose linearised boundary is nearest in the dual norm: its f_k and w_k; null if all w_k are 0. */
  function nearestBoundary(row: Float32Array, classes: number[], label: number, grad: (slot: number) => Float32Array) {
    let best: { distance: number; f: number; grad: Float32Array } | null = null;
    classes.filter((c) => c !== label).forEach((c, r) => {
      const w = grad(r);
      let dual = 0;
      for (const v of w) dual += settings.norm === "l2" ? v * v : Math.abs(v);
      if (settings.norm === "l2") dual = Math.sqrt(dual);
      if (!(dual > 0)) return;
      const f = row[c] - row[label], distance = Math.abs(f) / dual;
      if (!best || distance < best.distance) best = { distance, f, grad: w };
    });
    return best as { distance: number; f: number; grad: Float32Array } | null;
  }
}

/** The `count` highest classes of a row of logits, highest first (ties: the lower class). */
export function topClasses(row: ArrayLike<number>, count: number): number[] {
  const order = Array.from(row, (v, c) => ({ v, c })).sort((a, b) => b.v - a.v || a.c - b.c);
  return order.slice(0, count).map((e) => e.c);
}

/** Image i's perturbation norm, in float64. */
function perturbationNorm(images: Float32Array, origin: Float32Array, i: number, per: number, norm: Norm): number {
  let acc = 0;
  for (let j = i * per; j < (i + 1) * per; j++) {
    const d = Math.abs(images[j] - origin[j]);
    acc = norm === "l2" ? acc + d * d : Math.max(acc, d);
  }
  return norm === "l2" ? Math.sqrt(acc) : acc;
}

/**
 * The logits at the batch's images and, per candidate slot r (the candidates but the label, in
 * order), the input gradient of logit_candidate - logit_label: one forward pass, a backward each.
 */
export async function linearise(ctx: AuditContext, sub: GpuBatch, candidates: number[][] | null) {
  const gpu = ctx.exec.gpu;
  const n = sub.count, labels = sub.host.labels;
  const classes = ctx.exec.outputShape(n)[1];
  const others = candidates?.map((list, k) => list.filter((c) => c !== labels[k])) ?? [];
  const slots = Math.max(0, ...others.map((o) => o.length));
  const seeds = Array.from({ length: slots }, (_, r) => {
    const d = new Float32Array(n * classes);
    others.forEach((o, k) => {
      if (r >= o.length) return; // fewer candidates: a zero seed, a zero gradient, never chosen
      d[k * classes + o[r]] = 1;
      d[k * classes + labels[k]] = -1;
    });
    return gpu.tensor([n, classes], d);
  });
  const gradients = seeds.map(() => gpu.tensor(sub.images.shape));
  try {
    using logits = gpu.tensor([n, classes]);
    await gpu.run((step) => {
      // One forward pass; the backward passes leave its tape intact.
      using tape = ctx.exec.forwardWithTape(step, sub.images, { keep: "input-gradient" });
      step.copy(tape.output, logits);
      seeds.forEach((seed, r) => {
        using grads = ctx.exec.backward(step, tape, seed, { input: true });
        step.copy(grads.input!, gradients[r]);
      });
    });
    const bytes = await gpu.readMany([logits, ...gradients]);
    return { logits: new Float32Array(bytes[0]), classes, grads: bytes.slice(1).map((b) => new Float32Array(b)) };
  } finally {
    [...seeds, ...gradients].forEach((t) => t.dispose());
  }
}
