/**
 * The slices of each class as the report keeps them: slices.ts's kernel balls with their rates,
 * Wilson intervals, true labels and MMD-critic prototypes, then judged over all classes at once
 * (Holm over every slice's holdout p-value; `found` needs the share, the ratio and the adjusted p).
 *
 * @example
 * ```ts
 * import type { Gpu } from "../../kernels/gpu.ts";
 * import type { BiasClass } from "../schema/bias.ts";
 * declare const gpu: Gpu, features: Float32Array, rows: number[], labels: Int32Array, indices: Int32Array;
 * declare const classes: BiasClass[];
 * const slices = await classSlices(gpu, { features, width: 64, rows, labels, indices, label: 7, criticisms: [], sigma: 1 });
 * judgeSlices(classes, { minShare: 0.05, minSize: 5, rateRatio: 3, alpha: 0.01 });
 * ```
 */
import type { Gpu } from "../../kernels/gpu.ts";
import type { BiasClass, SliceReport } from "../schema/bias.ts";
import { reaches } from "./group_rates.ts";
import { holmAdjust } from "./holm.ts";
import { mmdCritic } from "./mmd_critic.ts";
import { findSlices, type SliceOptions, wilsonInterval } from "./slices.ts";

/** Prototypes shown per slice. */
const SLICE_PROTOTYPES = 4;
/** A slice's prototypes are picked among its rows nearest the seed, at most this many (bounds their Gram). */
export const SLICE_PROTOTYPE_ROWS = 256;

/**
 * An upper bound on the slice search's Gram work in multiply-adds over a stage of `rows` sampled
 * feature rows in `classes` classes: one Gram row per seed and row (seeds x rows x width), and per
 * kept slice MMD-critic over at most SLICE_PROTOTYPE_ROWS rows (their row sums and 4 picks).
 *
 * @example
 * ```ts
 * // ImageNet's 50,000 validation images in 1,000 classes, 2,048 wide, 32 seeds, 3 slices a class: ~4.1e11
 * sliceWorkBound({ rows: 50_000, classes: 1000, width: 2048, seeds: 32, maxSlices: 3 });
 * ```
 */
export function sliceWorkBound(
  sizes: { rows: number; classes: number; width: number; seeds: number; maxSlices: number },
): number {
  const { rows, classes, width, seeds, maxSlices } = sizes;
  const m = SLICE_PROTOTYPE_ROWS;
  return width * (seeds * rows + classes * maxSlices * (m * m + SLICE_PROTOTYPES * (m + 1)));
}

export interface ClassSliceInput {
  /** The class's sampled feature rows [rows.length, width]; row i is table row rows[i]. */
  features: Float32Array;
  width: number;
  rows: readonly number[];
  /** The table's labels and example indices (by table row). */
  labels: Int32Array;
  indices: Int32Array;
  label: number;
  /** Positions (in `rows`) of the class's criticisms. */
  criticisms: readonly number[];
  sigma: number;
  group?: (row: number) => string | undefined;
}

/** The slices of one class, not yet judged (`found` false, adjusted p = raw p). */
export async function classSlices(
  gpu: Gpu,
  input: ClassSliceInput,
  options: SliceOptions = {},
): Promise<SliceReport[]> {
  const { features, width, rows, labels, indices, label } = input;
  const mistakes = Uint8Array.from(rows, (r) => (labels[r] !== label ? 1 : 0));
  const { criticisms, sigma } = input;
  const found = await findSlices(gpu, { features, width, mistakes, criticisms, sigma }, options);
  const example = (position: number) => {
    const row = rows[position];
    const group = input.group?.(row);
    return { index: indices[row], label: labels[row], ...(group === undefined ? {} : { group }) };
  };
  const out: SliceReport[] = [];
  for (const s of found) {
    const nearest = s.members.slice(0, SLICE_PROTOTYPE_ROWS);
    const memberFeatures = new Float32Array(nearest.length * width);
    nearest.forEach((m, i) => memberFeatures.set(features.subarray(m * width, (m + 1) * width), i * width));
    const critic = await mmdCritic(gpu, memberFeatures, width, {
      prototypes: SLICE_PROTOTYPES,
      criticisms: 0,
      sigma: input.sigma,
      memoryBudget: options.memoryBudget,
    });
    const byLabel = new Map<number, number>();
    for (const m of s.members) byLabel.set(labels[rows[m]], (byLabel.get(labels[rows[m]]) ?? 0) + 1);
    const errorRate = s.slice.mistakes / s.slice.size;
    const restErrorRate = s.rest.size > 0 ? s.rest.mistakes / s.rest.size : 0;
    out.push({
      seed: { ...example(s.seed), kind: s.seedKind },
      size: s.slice.size,
      share: s.slice.size / rows.length,
      mistakes: s.slice.mistakes,
      errorRate,
      interval: wilsonInterval(s.slice.mistakes, s.slice.size),
      rest: s.rest,
      restErrorRate,
      ratio: restErrorRate > 0 ? errorRate / restErrorRate : null,
      holdout: s.holdout,
      pValue: s.pValue,
      adjustedPValue: s.pValue,
      labels: [...byLabel].sort((a, b) => b[1] - a[1] || a[0] - b[0]).slice(0, 5)
        .map(([l, count]) => ({ label: l, count })),
      prototypes: critic.prototypes.map((p) => example(nearest[p])),
      found: false,
    });
  }
  return out;
}

/** Holm over every class's slices, then `found`: share >= minShare, size >= minSize, ratio >= rateRatio, adjusted p < alpha. */
export function judgeSlices(
  classes: BiasClass[],
  settings: { minShare: number; minSize: number; rateRatio: number; alpha: number },
): number {
  const all = classes.flatMap((c) => c.slices ?? []);
  const adjusted = holmAdjust(all.map((s) => s.pValue));
  all.forEach((s, i) => {
    s.adjustedPValue = adjusted[i];
    s.found = s.share >= settings.minShare && s.size >= settings.minSize &&
      reaches(s.ratio, s.errorRate, settings.rateRatio) && s.adjustedPValue < settings.alpha;
  });
  return all.length;
}
