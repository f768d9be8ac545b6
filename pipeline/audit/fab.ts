/**
 * FAB-T, the targeted Fast Adaptive Boundary attack (Croce & Hein, ICML 2020, "Minimally distorted
 * adversarial examples with a fast adaptive boundary attack"), L-infinity, as in AutoAttack: a
 * minimal-norm attack that, per step, linearises the model at the current point x1 toward one
 * target class t (f = z_t - z_label, w = its input gradient), projects both x1 and the original
 * point x0 onto the linearised boundary {z : w.z = w.x1 - f} within the valid range (the
 * box-constrained L-infinity projection, `projectionLinf`), and steps to a convex combination of
 * the two, biased toward x0: x1 <- clip((x1 + eta d1)(1 - alpha) + (x0 + eta d2) alpha), alpha =
 * min(|d1| / (|d1| + |d2|), alpha_max) (alpha_max 0.1, eta 1.05). When the new point is
 * misclassified (its prediction leaves the label, whatever class it reached: the target only
 * steers) it is kept if it is the nearest found, and x1 is pulled back toward x0 by beta = 0.9.
 * Each run takes `steps` steps; the first of an image's runs per target starts at x0, the later
 * ones (restarts) at a random point of the ball of radius epsilon / 2. The target classes are the
 * clean image's 2nd to 10th highest logits, one after another on the images still robust; an
 * image is fooled when its nearest misclassified point lies within epsilon and a last forward pass
 * confirms it (AutoAttack's final check).
 *
 * The forward and backward passes run batched on the GPU (DeepFool's `linearise`: one forward and
 * one backward per step, then a forward pass at the new points); the projections run here, per
 * image, in float64: a sort of the image's D pixels, O(D log D) per projection, two per step. The
 * random starts are drawn per image from (seed, data index, target rank, restart), so an image's
 * attack does not depend on its batch.
 *
 * @example
 * ```ts
 * import type { AuditContext, GpuBatch } from "./gpu_batch.ts";
 * declare const ctx: AuditContext, batch: GpuBatch;
 * const { success, distances } = await fabTargeted(ctx, batch, 0.1, FAB_DEFAULTS);
 * ```
 */
import { mulberry32 } from "../io/prng.ts";
import { linearise, topClasses } from "./deepfool.ts";
import { type AuditContext, GpuBatch, selectImages } from "./gpu_batch.ts";

/** FAB-T's settings. */
export interface FabSettings {
  /** Steps per run (AutoAttack: 100). */
  steps: number;
  /** Target classes, the clean image's 2nd highest logit on (AutoAttack: 9; at most classes - 1 are used). */
  targets: number;
  /** Runs per target class, the first from the clean image, the others from random starts (AutoAttack: 1). */
  restarts: number;
  /** The largest weight of the step toward the original point (0.1). */
  alphaMax: number;
  /** The overshoot of the projections (1.05). */
  eta: number;
  /** The pull back toward the original point after a misclassified point (0.9). */
  beta: number;
}

/** AutoAttack's FAB-T settings. */
export const FAB_DEFAULTS: Readonly<FabSettings> = Object.freeze({
  steps: 100,
  targets: 9,
  restarts: 1,
  alphaMax: 0.1,
  eta: 1.05,
  beta: 0.9,
});

/** FAB-T's outcome on a batch. */
export interface FabResult {
  /** Per image: the prediction at its returned point. */
  predictions: Uint32Array;
  /** Per image: a point within epsilon that the model misclassifies was found (true for a misclassified clean image). */
  success: boolean[];
  /** Per image: the L-infinity norm of the nearest misclassified point found, whatever epsilon (null: none). */
  distances: (number | null)[];
  /** Per image: its adversarial point where `success`, its clean image otherwise; NCHW. */
  images: Float32Array;
}

/**
 * The minimal L-infinity step d from `point` onto the hyperplane w.z = b with point + d in the box
 * [lo, hi]: every coordinate moves toward the hyperplane by min(r, its room to the box) for the
 * least radius r that reaches it. Where the box keeps the hyperplane out of reach, the step to the
 * box's corner nearest it. Coordinates with w_j = 0 do not move. A sort of the coordinates by
 * their room: O(D log D).
 */
export function projectionLinf(
  point: ArrayLike<number>,
  w: ArrayLike<number>,
  b: number,
  range: readonly [number, number],
): Float64Array {
  const dims = point.length;
  let dot = 0;
  for (let j = 0; j < dims; j++) dot += w[j] * point[j];
  const need = b - dot, up = Math.sign(need);
  const d = new Float64Array(dims);
  if (up === 0) return d;
  // Coordinate j moves by sign(w_j) up, changing w.z by |w_j| per unit until it meets the box.
  const room = new Float64Array(dims);
  const moving: number[] = [];
  for (let j = 0; j < dims; j++) {
    if (w[j] === 0) continue;
    room[j] = Math.max(0, Math.sign(w[j]) * up > 0 ? range[1] - point[j] : point[j] - range[0]);
    moving.push(j);
  }
  moving.sort((p, q) => room[p] - room[q]);
  let weight = 0;
  for (const j of moving) weight += Math.abs(w[j]);
  // gain(r) = fixed + r * weight, with fixed the gain of the coordinates whose room is below r.
  let fixed = 0, radius = Infinity;
  for (const j of moving) {
    const reach = fixed + room[j] * weight;
    if (reach >= Math.abs(need)) {
      radius = (Math.abs(need) - fixed) / weight;
      break;
    }
    fixed += room[j] * Math.abs(w[j]);
    weight -= Math.abs(w[j]);
  }
  for (const j of moving) d[j] = Math.sign(w[j]) * up * Math.min(radius, room[j]);
  return d;
}

/**
 * The runs from the clean image, per (data index, target rank): they do not depend on epsilon, so
 * a sweep's epsilons can share them (one memo per batch and settings).
 */
export type FabMemo = Map<string, { distance: number | null; point: Float32Array }>;

/**
 * Runs FAB-T at one epsilon on every image of the batch. With a `memo`, the runs from the clean
 * image are recalled from it where an earlier call ran them (the same outcome, without the passes).
 */
export async function fabTargeted(
  ctx: AuditContext,
  batch: GpuBatch,
  epsilon: number,
  settings: FabSettings,
  memo?: FabMemo,
): Promise<FabResult> {
  if (!(settings.steps >= 1 && settings.targets >= 1 && settings.restarts >= 1)) {
    throw new RangeError("fab: steps, targets and restarts must be >= 1");
  }
  const n = batch.count, per = batch.host.images.length / n;
  const origin = batch.host.images, labels = batch.host.labels;
  const clean = await linearise(ctx, batch, null);
  const classes = clean.classes;
  const ranked = Array.from(
    labels,
    (_, i) => topClasses(clean.logits.subarray(i * classes, (i + 1) * classes), classes),
  );
  const predictions = Uint32Array.from(ranked, (r) => r[0]);
  const success = Array.from(labels, (l, i) => predictions[i] !== l);
  const distances: (number | null)[] = success.map((s) => (s ? 0 : null));
  const images = Float32Array.from(origin);
  const targets = Math.min(settings.targets, classes - 1);
  for (let rank = 1; rank <= targets; rank++) {
    for (let restart = 0; restart < settings.restarts; restart++) {
      const open = success.flatMap((s, i) => (s ? [] : [i]));
      if (open.length === 0) return { predictions, success, distances, images };
      const draw = { rank, restart, epsilon };
      const run = await recalledRun(ctx, batch, open, (i) => ranked[i][rank], settings, draw, memo);
      const within = open.flatMap((i, k) => {
        const t = run.distances[k];
        if (t !== null && (distances[i] === null || t < distances[i]!)) distances[i] = t;
        return t !== null && t <= epsilon ? [k] : [];
      });
      if (within.length === 0) continue;
      // The final check: the point, as the model sees it, is misclassified.
      const points = new Float32Array(within.length * per);
      within.forEach((k, m) => points.set(run.best.subarray(k * per, (k + 1) * per), m * per));
      const check = await predict(ctx, batch, within.map((k) => open[k]), points);
      within.forEach((k, m) => {
        const i = open[k];
        if (check[m] === labels[i]) return;
        success[i] = true;
        predictions[i] = check[m];
        images.set(points.subarray(m * per, (m + 1) * per), i * per);
      });
    }
  }
  return { predictions, success, distances, images };
}

/** `singleRun`, its runs from the clean image recalled from `memo` where there, stored there otherwise. */
async function recalledRun(
  ctx: AuditContext,
  batch: GpuBatch,
  open: number[],
  targetOf: (position: number) => number,
  settings: FabSettings,
  draw: { rank: number; restart: number; epsilon: number },
  memo: FabMemo | undefined,
): Promise<{ best: Float32Array; distances: (number | null)[] }> {
  const run = (positions: number[]) => singleRun(ctx, batch, positions, positions.map(targetOf), settings, draw);
  if (!memo || draw.restart > 0) return await run(open);
  const per = batch.host.images.length / batch.count;
  const key = (i: number) => `${batch.host.indices[i]}:${draw.rank}`;
  const fresh = open.filter((i) => !memo.has(key(i)));
  if (fresh.length > 0) {
    const found = await run(fresh);
    fresh.forEach((i, k) => {
      memo.set(key(i), { distance: found.distances[k], point: found.best.slice(k * per, (k + 1) * per) });
    });
  }
  const best = new Float32Array(open.length * per);
  const distances = open.map((i, k) => {
    const recalled = memo.get(key(i))!;
    best.set(recalled.point, k * per);
    return recalled.distance;
  });
  return { best, distances };
}

/**
 * One run of FAB toward one target per image, on the batch's images at `open`: per image, the
 * nearest misclassified point found (`best`, packed in `open`'s order) and its L-infinity
 * distance (null: none found).
 */
async function singleRun(
  ctx: AuditContext,
  batch: GpuBatch,
  open: number[],
  targets: number[],
  settings: FabSettings,
  draw: { rank: number; restart: number; epsilon: number },
): Promise<{ best: Float32Array; distances: (number | null)[] }> {
  const per = batch.host.images.length / batch.count;
  const range = ctx.range;
  const x0 = selectImages(batch.host, open);
  const x1 = Float32Array.from(x0.images);
  if (draw.restart > 0) {
    open.forEach((i, k) =>
      randomStart(x1.subarray(k * per, (k + 1) * per), x0.images.subarray(k * per, (k + 1) * per), {
        epsilon: draw.epsilon,
        range,
        seed: drawSeed(ctx.seed, batch.host.indices[i], draw.rank, draw.restart),
      })
    );
  }
  const best = Float32Array.from(x0.images);
  const distances: (number | null)[] = open.map(() => null);
  const candidates = targets.map((t, k) => [x0.labels[k], t]);
  for (let step = 0; step < settings.steps; step++) {
    using at = GpuBatch.upload(ctx, { ...x0, images: x1 });
    const { logits, grads, classes } = await linearise(ctx, at, candidates);
    open.forEach((_, k) => {
      const rows = k * per;
      const w = grads[0].subarray(rows, rows + per);
      if (!w.some((v) => v !== 0)) return; // no direction: the point stays
      const point = x1.subarray(rows, rows + per), start = x0.images.subarray(rows, rows + per);
      const f = logits[k * classes + targets[k]] - logits[k * classes + x0.labels[k]];
      let b = -f;
      for (let j = 0; j < per; j++) b += w[j] * point[j];
      const d1 = projectionLinf(point, w, b, range), d2 = projectionLinf(start, w, b, range);
      const a1 = Math.max(linfNorm(d1), 1e-8), a2 = Math.max(linfNorm(d2), 1e-8);
      const alpha = Math.min(Math.max(a1 / (a1 + a2), 0), settings.alphaMax);
      for (let j = 0; j < per; j++) {
        const next = (point[j] + settings.eta * d1[j]) * (1 - alpha) + (start[j] + settings.eta * d2[j]) * alpha;
        point[j] = Math.min(range[1], Math.max(range[0], next));
      }
    });
    const now = await predict(ctx, batch, open, x1);
    open.forEach((_, k) => {
      if (now[k] === x0.labels[k]) return;
      const point = x1.subarray(k * per, (k + 1) * per), start = x0.images.subarray(k * per, (k + 1) * per);
      let t = 0;
      for (let j = 0; j < per; j++) t = Math.max(t, Math.abs(point[j] - start[j]));
      if (distances[k] === null || t < distances[k]!) {
        distances[k] = t;
        best.set(point, k * per);
      }
      for (let j = 0; j < per; j++) point[j] = start[j] + (point[j] - start[j]) * settings.beta;
    });
  }
  return { best, distances };
}

/** The top-1 classes of `images` (packed), the batch's images at `positions` moved there. */
async function predict(ctx: AuditContext, batch: GpuBatch, positions: number[], images: Float32Array) {
  using at = GpuBatch.upload(ctx, { ...selectImages(batch.host, positions), images });
  const { logits, classes } = await linearise(ctx, at, null);
  return positions.map((_, k) => topClasses(logits.subarray(k * classes, (k + 1) * classes), 1)[0]);
}

/** A restart's start: x0 plus a uniform draw in [-1, 1]^D scaled to L-infinity norm epsilon / 2, clipped to the range. */
function randomStart(
  x1: Float32Array,
  x0: Float32Array,
  { epsilon, range, seed }: { epsilon: number; range: readonly [number, number]; seed: number },
): void {
  const random = mulberry32(seed);
  const t = Float64Array.from(x0, () => 2 * random() - 1);
  const scale = epsilon / 2 / Math.max(linfNorm(t), 1e-12);
  x0.forEach((v, j) => x1[j] = Math.min(range[1], Math.max(range[0], v + scale * t[j])));
}

/** The random-start seed of one image's run. */
function drawSeed(seed: number, index: number, rank: number, restart: number): number {
  const mixed = Math.imul(seed ^ 0xfab7, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca77);
  return (mixed ^ Math.imul(rank * 64 + restart, 0xc2b2ae35)) >>> 0;
}

function linfNorm(v: ArrayLike<number>): number {
  let m = 0;
  for (let j = 0; j < v.length; j++) m = Math.max(m, Math.abs(v[j]));
  return m;
}
