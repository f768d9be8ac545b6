/**
 * Each image's epsilon that flips it, an upper bound, by batched bisection: with an attack at every
 * midpoint, or along the segment to the sweep's adversarial point.
 *
 * A flip is defined for correctly classified images only: the attack's prediction differs from
 * the clean prediction (which is the label). Misclassified images are already "flipped" at
 * epsilon 0 and get no value. The bisection starts from the bracket an accuracy-versus-epsilon
 * sweep gives (the largest swept epsilon that did not flip the image, the smallest that did) and
 * halves it until it is no wider than the resolution; the result is the upper end, an epsilon at
 * which the attack was seen to flip the image: an upper bound on the smallest flipping epsilon,
 * which may be lower. Images the sweep never flipped get no value: their flipping epsilon is
 * above the largest swept one. The random starts are drawn per image (iterative_attack.ts), so
 * every midpoint reuses the bracket's start, scaled to its radius; the bisection still treats a
 * flip as monotone in epsilon, which an attack need not be. `options.targets` (one per image of
 * the batch) with goal "target" bisects the epsilon that reaches the target.
 *
 * @example
 * ```ts
 * import type { AuditContext, GpuBatch } from "./gpu_batch.ts";
 * declare const ctx: AuditContext, batch: GpuBatch;
 * declare const clean: Uint32Array, sweep: Uint32Array[]; // clean answers; answers under attack per epsilon
 * const epsilons = [0.05, 0.1, 0.2];
 * const brackets = flipBrackets(clean, batch.host.labels, sweep, epsilons);
 * const smallest = await bisectFlipEpsilons(ctx, batch, clean, brackets, 1 / 256, { kind: "pgd" });
 * ```
 */
import { attackBatch, type AttackOptions } from "./attacks.ts";
import { predictBatch } from "./evaluate.ts";
import { type AuditContext, GpuBatch, selectImages } from "./gpu_batch.ts";

/** An interval known to hold an image's smallest flipping epsilon: no flip at lo, a flip at hi. */
export interface Bracket {
  lo: number;
  hi: number;
}

/**
 * Brackets from a sweep: `sweep[j][i]` is image i's prediction under attack at `epsilons[j]`
 * (ascending). Null for misclassified images and images no swept epsilon flipped.
 */
export function flipBrackets(
  clean: ArrayLike<number>,
  labels: ArrayLike<number>,
  sweep: readonly ArrayLike<number>[],
  epsilons: readonly number[],
): (Bracket | null)[] {
  return Array.from({ length: clean.length }, (_, i) => {
    if (clean[i] !== labels[i]) return null;
    const j = sweep.findIndex((predictions, k) => epsilons[k] > 0 && predictions[i] !== clean[i]);
    if (j < 0) return null;
    return { lo: j > 0 ? epsilons[j - 1] : 0, hi: epsilons[j] };
  });
}

/**
 * Narrows each bracket to `resolution` by bisection with the given attack (all bracketed images of
 * the batch attacked together, each at its own midpoint) and returns the upper ends; null where
 * there was no bracket.
 */
export async function bisectFlipEpsilons(
  ctx: AuditContext,
  batch: GpuBatch,
  clean: ArrayLike<number>,
  brackets: readonly (Bracket | null)[],
  resolution: number,
  options: AttackOptions,
): Promise<(number | null)[]> {
  if (!(resolution > 0)) throw new RangeError(`bisection resolution must be > 0, got ${resolution}`);
  const active = brackets.flatMap((b, i) => (b ? [i] : []));
  const open = active.map((i) => ({ ...brackets[i]! }));
  for (;;) {
    // Only the brackets still wider than the resolution are attacked, each at its midpoint.
    const pending = open.flatMap((b, k) => (b.hi - b.lo > resolution ? [k] : []));
    if (pending.length === 0) break;
    const mids = pending.map((k) => (open[k].lo + open[k].hi) / 2);
    using sub = GpuBatch.upload(ctx, batch.host, pending.map((k) => active[k]));
    const targets = options.targets && pending.map((k) => options.targets![active[k]]);
    const { predictions, success } = await attackBatch(ctx, sub, mids, { ...options, targets });
    pending.forEach((k, j) => {
      if (success ? success[j] : predictions[j] !== clean[active[k]]) open[k].hi = mids[j];
      else open[k].lo = mids[j];
    });
  }
  const result: (number | null)[] = brackets.map(() => null);
  active.forEach((i, k) => result[i] = open[k].hi);
  return result;
}

/**
 * Narrows each bracket to `resolution` along the segment from the clean image to `adversarial`
 * (the point that flipped it at the bracket's upper end; NCHW, a row per image of the batch): the
 * point at epsilon e is x + (e / hi) (adversarial - x), inside the e-ball and the valid range (a
 * convex combination of two points in both). One forward pass per step for all open brackets;
 * `flipped(prediction, i)` says whether image i's prediction is a flip. Returns the upper ends (a
 * flip seen there: an upper bound), null where there was no bracket.
 */
export async function lineSearchFlipEpsilons(
  ctx: AuditContext,
  batch: GpuBatch,
  brackets: readonly (Bracket | null)[],
  adversarial: Float32Array,
  resolution: number,
  flipped: (prediction: number, i: number) => boolean,
): Promise<(number | null)[]> {
  if (!(resolution > 0)) throw new RangeError(`bisection resolution must be > 0, got ${resolution}`);
  const per = adversarial.length / batch.count;
  const clean = batch.host.images;
  const active = brackets.flatMap((b, i) => (b ? [i] : []));
  const open = active.map((i) => ({ ...brackets[i]! }));
  const radius = active.map((i) => brackets[i]!.hi);
  for (;;) {
    const pending = open.flatMap((b, k) => (b.hi - b.lo > resolution ? [k] : []));
    if (pending.length === 0) break;
    const mids = pending.map((k) => (open[k].lo + open[k].hi) / 2);
    const images = new Float32Array(pending.length * per);
    pending.forEach((k, j) => {
      const i = active[k], t = mids[j] / radius[k];
      for (let d = 0; d < per; d++) {
        const x = clean[i * per + d];
        images[j * per + d] = x + t * (adversarial[i * per + d] - x);
      }
    });
    const host = { ...selectImages(batch.host, pending.map((k) => active[k])), images };
    using sub = GpuBatch.upload(ctx, host);
    const predictions = await predictBatch(ctx, sub);
    pending.forEach((k, j) => {
      if (flipped(predictions[j].top[0], active[k])) open[k].hi = mids[j];
      else open[k].lo = mids[j];
    });
  }
  const result: (number | null)[] = brackets.map(() => null);
  active.forEach((i, k) => result[i] = open[k].hi);
  return result;
}
