/**
 * The robustness stage: per batch, FGSM and (optionally) PGD at every epsilon of a sweep, the
 * zero-gradient count, and each image's smallest flipping epsilon; over the data set, the
 * accuracy-versus-epsilon curves, where flips land in the class hierarchy, and trust warnings.
 *
 * A flip, for the curves as for the smallest epsilon, is a correctly classified image whose
 * adversarial prediction differs from its label. The sweep goes up the epsilons and attacks only
 * the images still classified correctly: an adversarial image found at a smaller radius is also
 * inside every larger ball, so it stands for the larger radius too (it keeps the class it was
 * flipped to). Accuracy at epsilon is thus the share of images no attack of radius <= epsilon
 * fooled, and the curve never rises. Epsilon 0 is not attacked: a ball of radius 0 holds only the
 * clean image, so its predictions are the clean ones.
 *
 * @example
 * ```ts
 * import type { Hierarchy } from "../model/hierarchy.ts";
 * import type { AuditContext, GpuBatch } from "./gpu_batch.ts";
 * declare const ctx: AuditContext, batch: GpuBatch, clean: Uint32Array; // clean: the batch's clean answers
 * declare const settings: RobustnessSettings, hierarchy: Hierarchy;
 * const robustness = new RobustnessAccumulator(settings, hierarchy, ctx.range[1] - ctx.range[0]);
 * robustness.add(await robustnessBatch(ctx, batch, clean, settings));
 * const { curve, warnings } = robustness.finish();
 * ```
 */
import type { Hierarchy } from "../model/hierarchy.ts";
import { attackBatch, type AttackKind, type AttackOptions, cleanGradient, type PgdSettings } from "./attacks.ts";
import { type AuditContext, GpuBatch } from "./gpu_batch.ts";
import { bisectFlipEpsilons, flipBrackets } from "./min_epsilon.ts";
import { mistakeSeverity } from "./severity.ts";
import { type CurveStats, trustWarnings } from "./trust_checks.ts";

/** The default sweep for inputs in [0, 1] (scaled by the range width for other ranges). */
export const DEFAULT_EPSILONS: readonly number[] = Object.freeze([0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3]);

export interface RobustnessSettings {
  /** Ascending, each in [0, range width]. */
  epsilons: number[];
  /** The attack of the main curve and of the smallest flipping epsilons; FGSM is always swept too. */
  attack: AttackKind;
  pgd: PgdSettings;
  /** Bisection resolution of the smallest flipping epsilon (1/256 of the range width); 0 skips it. */
  resolution: number;
  /** Superclass depth for "a flip to the same superclass". */
  depth: number;
}

/** One batch's attack outcomes. */
export interface BatchRobustness {
  indices: number[];
  labels: number[];
  /** Clean top-1 predictions. */
  clean: number[];
  /** Images whose input gradient is zero everywhere. */
  zeroGradients: number;
  /** Adversarial predictions per epsilon of the sweep, per attack run. */
  sweeps: Partial<Record<AttackKind, Uint32Array[]>>;
  /** Each image's smallest flipping epsilon (null: misclassified, or not flipped by the sweep). */
  minEpsilons: (number | null)[];
}

/**
 * Attacks one batch at every epsilon (FGSM, and PGD when it is the chosen attack) and bisects the
 * smallest flipping epsilons. `clean` are the batch's clean top-1 predictions. `onStage` is told
 * which attack is running, for progress displays.
 */
export async function robustnessBatch(
  ctx: AuditContext,
  batch: GpuBatch,
  clean: ArrayLike<number>,
  settings: RobustnessSettings,
  onStage?: (stage: string) => void,
): Promise<BatchRobustness> {
  const gpu = ctx.exec.gpu;
  const cleanPredictions = Uint32Array.from(clean);
  using gradient = await cleanGradient(ctx, batch);
  const zeroGradients = countZeroImages(await gpu.read(gradient), batch.count);
  const labels = batch.host.labels;
  const sweep = async (kind: AttackKind) => {
    onStage?.(kind);
    const options = kind === "fgsm" ? { kind, gradient } : { kind, ...settings.pgd };
    const out: Uint32Array[] = [];
    let current = cleanPredictions;
    for (const epsilon of settings.epsilons) {
      // Only images no smaller radius has flipped yet are attacked (see the module comment).
      const open = indicesWhere(current, (p, i) => p === labels[i]);
      if (epsilon > 0 && open.length > 0) {
        // FGSM reuses the whole batch's clean gradient, so it attacks the whole batch.
        const found = kind === "fgsm"
          ? pick((await attackBatch(ctx, batch, epsilon, options)).predictions, open)
          : await attackSubset(ctx, batch, open, epsilon, options);
        current = Uint32Array.from(current);
        open.forEach((p, k) => current[p] = found[k]);
      }
      out.push(current);
    }
    return out;
  };
  const sweeps: BatchRobustness["sweeps"] = { fgsm: await sweep("fgsm") };
  if (settings.attack === "pgd") sweeps.pgd = await sweep("pgd");
  let minEpsilons: (number | null)[] = Array.from(clean, () => null);
  if (settings.resolution > 0) {
    onStage?.("min-epsilon");
    const brackets = flipBrackets(cleanPredictions, labels, sweeps[settings.attack]!, settings.epsilons);
    const options = { kind: settings.attack, ...settings.pgd };
    minEpsilons = await bisectFlipEpsilons(ctx, batch, cleanPredictions, brackets, settings.resolution, options);
  }
  return {
    indices: batch.host.indices,
    labels: Array.from(batch.host.labels),
    clean: Array.from(cleanPredictions),
    zeroGradients,
    sweeps,
    minEpsilons,
  };
}

/** Attacks the images at positions `subset` of a batch (the whole batch without an upload when that is all). */
async function attackSubset(
  ctx: AuditContext,
  batch: GpuBatch,
  subset: number[],
  epsilon: number,
  options: AttackOptions,
): Promise<Uint32Array> {
  if (subset.length === batch.count) return (await attackBatch(ctx, batch, epsilon, options)).predictions;
  using sub = GpuBatch.upload(ctx, batch.host, subset);
  return (await attackBatch(ctx, sub, epsilon, options)).predictions;
}

function indicesWhere(values: Uint32Array, test: (value: number, i: number) => boolean): number[] {
  const out: number[] = [];
  values.forEach((v, i) => test(v, i) && out.push(i));
  return out;
}

function pick(values: Uint32Array, positions: number[]): number[] {
  return positions.map((p) => values[p]);
}

/** Number of images (equal slices of `gradient`) whose gradient is exactly zero. */
export function countZeroImages(gradient: Float32Array, count: number): number {
  const per = gradient.length / count;
  let zero = 0;
  for (let i = 0; i < count; i++) {
    if (gradient.subarray(i * per, (i + 1) * per).every((v) => v === 0)) zero++;
  }
  return zero;
}

/** One point of an accuracy-versus-epsilon curve, with where the flips landed. */
export interface CurvePoint extends CurveStats {
  /** Correctly classified images the attack flipped. */
  flips: number;
  /** Flips to a class in the label's superclass (at the settings' depth). */
  sameSuperclass: number;
  /** sameSuperclass / flips; null without flips. */
  sameSuperclassShare: number | null;
  /** Flips by hierarchy distance from label to adversarial class: histogram[d] = count. */
  distanceHistogram: number[];
  /** Mean severity of the flips (LCA height of label and adversarial class, see severity.ts); null without flips. */
  meanSeverity: number | null;
}

/** What the robustness stage reports. */
export interface RobustnessSummary {
  attack: AttackKind;
  /** Images attacked (the curves' denominator). */
  attacked: number;
  /** The chosen attack's curve. */
  curve: CurvePoint[];
  fgsm: CurvePoint[];
  pgd: CurvePoint[] | null;
  zeroGradients: number;
  zeroGradientShare: number;
  /** Null when the bisection was skipped (resolution 0). */
  minEpsilon: {
    attack: AttackKind;
    resolution: number;
    /** Correctly classified images with a smallest flipping epsilon. */
    flipped: number;
    /** Correctly classified images that no swept epsilon flipped. */
    notFlipped: number;
    median: number | null;
    /** Per image (by index), in data order; null: misclassified or not flipped by the sweep. */
    values: { index: number; epsilon: number | null }[];
  } | null;
  warnings: string[];
}

interface Tally {
  correct: number;
  flips: number;
  sameSuperclass: number;
  histogram: number[];
  severitySum: number;
}

/** Collects batch outcomes (counts only, plus one number per image); `finish` summarises them. */
export class RobustnessAccumulator {
  #count = 0;
  #cleanCorrect = 0;
  #zeroGradients = 0;
  #tallies: Partial<Record<AttackKind, Tally[]>> = {};
  #minEpsilons: { index: number; epsilon: number | null }[] = [];

  constructor(readonly settings: RobustnessSettings, readonly hierarchy: Hierarchy, readonly rangeWidth: number) {}

  add(batch: BatchRobustness): void {
    const { labels, clean } = batch;
    this.#count += labels.length;
    this.#cleanCorrect += labels.filter((l, i) => clean[i] === l).length;
    this.#zeroGradients += batch.zeroGradients;
    batch.indices.forEach((index, i) => this.#minEpsilons.push({ index, epsilon: batch.minEpsilons[i] }));
    const histogramLength = 2 * this.hierarchy.maxDepth + 1;
    for (const [kind, sweep] of Object.entries(batch.sweeps) as [AttackKind, Uint32Array[]][]) {
      const tallies = this.#tallies[kind] ??= sweep.map(() => ({
        correct: 0,
        flips: 0,
        sameSuperclass: 0,
        histogram: new Array<number>(histogramLength).fill(0),
        severitySum: 0,
      }));
      sweep.forEach((predictions, j) => {
        const tally = tallies[j];
        labels.forEach((label, i) => {
          const adversarial = predictions[i];
          if (adversarial === label) tally.correct++;
          else if (clean[i] === label) {
            tally.flips++;
            if (this.hierarchy.sameSuperclass(label, adversarial, this.settings.depth)) tally.sameSuperclass++;
            tally.histogram[this.hierarchy.distance(label, adversarial)]++;
            tally.severitySum += mistakeSeverity(this.hierarchy, label, adversarial);
          }
        });
      });
    }
  }

  finish(): RobustnessSummary {
    const curveOf = (kind: AttackKind): CurvePoint[] | null =>
      this.#tallies[kind]?.map((t, j) => ({
        epsilon: this.settings.epsilons[j],
        accuracy: this.#count > 0 ? t.correct / this.#count : 0,
        successRate: this.#cleanCorrect > 0 ? t.flips / this.#cleanCorrect : null,
        flips: t.flips,
        sameSuperclass: t.sameSuperclass,
        sameSuperclassShare: t.flips > 0 ? t.sameSuperclass / t.flips : null,
        distanceHistogram: t.histogram,
        meanSeverity: t.flips > 0 ? t.severitySum / t.flips : null,
      })) ?? null;
    const fgsm = curveOf("fgsm") ?? [];
    const pgd = curveOf("pgd");
    const curve = (this.settings.attack === "pgd" ? pgd : fgsm) ?? [];
    const found = this.#minEpsilons.flatMap((m) => (m.epsilon === null ? [] : [m.epsilon]));
    return {
      attack: this.settings.attack,
      attacked: this.#count,
      curve,
      fgsm,
      pgd,
      zeroGradients: this.#zeroGradients,
      zeroGradientShare: this.#count > 0 ? this.#zeroGradients / this.#count : 0,
      minEpsilon: this.settings.resolution > 0
        ? {
          attack: this.settings.attack,
          resolution: this.settings.resolution,
          flipped: found.length,
          notFlipped: this.#cleanCorrect - found.length,
          median: median(found),
          values: this.#minEpsilons,
        }
        : null,
      warnings: trustWarnings({
        fgsm,
        pgd,
        chosen: curve,
        chosenName: this.settings.attack.toUpperCase(),
        rangeWidth: this.rangeWidth,
        zeroGradients: this.#zeroGradients,
        count: this.#count,
      }),
    };
  }
}

function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
