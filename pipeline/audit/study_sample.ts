/**
 * The audit's sample for a human study (report.json `study`): a seeded random sample of the
 * mistakes, stratified by taxonomy category (proportional allocation, at least one per non-empty
 * stratum), and a seeded random sample of the attack's flips, each explained with pictures as the
 * report's shown examples are. Judgments of the sample extrapolate to all mistakes and all flips,
 * weighted by stratum (pipeline/review/summary.ts).
 *
 * Both samples are "bottom-k" samples: each example gets a key, a hash of (seed, index), and the k
 * smallest keys are kept. That is a uniform sample without replacement, and it does not depend on
 * the order examples arrive in nor on how the data was split into batches or shards (merging two
 * bottom-k samples and keeping the k smallest gives the whole set's).
 *
 * @example
 * ```ts
 * import type { MistakeItem } from "./mistakes.ts";
 * declare const mistakes: MistakeItem[];
 * const sample = sampleMistakes(mistakes, 48, 1);
 * const flips = new BottomK<{ index: number; label: number; epsilon: number }>(48, 1);
 * flips.add([{ index: 3, label: 7, epsilon: 0.1 }]);
 * ```
 */
import { type MistakeStratum, mistakeStratum, type StudySample } from "../schema/review.ts";
import type { ImagePrediction } from "./evaluate.ts";
import { explainExamples, type ExplainSettings, type Explanations, Overlays } from "./explain_stage.ts";
import { gatherImages } from "./gather.ts";
import type { AssetWriter } from "./assets.ts";
import type { AuditContext } from "./gpu_batch.ts";
import type { MistakeItem } from "./mistakes.ts";
import type { AuditResults } from "./run_audit.ts";
import type { DataSource } from "../data/types.ts";
import { sizeOf } from "../io/size_of.ts";

/**
 * A 32-bit hash of (seed, index) (murmur3's finaliser over both): the example's sampling key.
 *
 * @example
 * ```ts
 * sampleKey(1, 17) === sampleKey(1, 17); // true, on every machine
 * ```
 */
export function sampleKey(seed: number, index: number): number {
  let h = (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(index >>> 0, 0x85ebca77)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

const byKey = (seed: number) => (a: { index: number }, b: { index: number }) =>
  sampleKey(seed, a.index) - sampleKey(seed, b.index) || a.index - b.index;

/** The k examples with the smallest keys, of all added, and how many were added. */
export class BottomK<T extends { index: number }> {
  #kept: T[] = [];
  #seen = 0;

  constructor(readonly k: number, readonly seed: number) {}

  add(items: readonly T[]): void {
    this.#seen += items.length;
    if (this.k === 0) return;
    this.#kept = [...this.#kept, ...items].sort(byKey(this.seed)).slice(0, this.k);
  }

  /** The sample, in data order. */
  get items(): T[] {
    return [...this.#kept].sort((a, b) => a.index - b.index);
  }

  /** Examples added in all. */
  get seen(): number {
    return this.#seen;
  }
}

/**
 * Sizes per stratum for a sample of `size` from strata of sizes `sizes`: proportional, the
 * remainders to the largest fractions, and at least one from each non-empty stratum while the
 * size allows; never more than a stratum holds. A size at least the population's takes everything.
 *
 * @example
 * ```ts
 * allocate([30, 10, 1], 8); // [5, 2, 1]
 * ```
 */
export function allocate(sizes: readonly number[], size: number): number[] {
  const total = sizes.reduce((s, n) => s + n, 0);
  if (size >= total) return [...sizes];
  const nonEmpty = sizes.filter((n) => n > 0).length;
  const out = sizes.map((n): number => (n > 0 && size >= nonEmpty ? 1 : 0));
  const room = sizes.map((n, h) => n - out[h]);
  const roomTotal = room.reduce((s, n) => s + n, 0);
  let left = size - out.reduce((s, n) => s + n, 0);
  // Each quota is at most its stratum's room, so its floor fits, and a stratum with a fraction has room for one more.
  const quota = room.map((n) => (left * n) / roomTotal);
  for (const [h, q] of quota.entries()) out[h] += Math.floor(q);
  left = size - out.reduce((s, n) => s + n, 0);
  const byFraction = quota.map((q, h) => [q - Math.floor(q), h]).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (const [, h] of byFraction.slice(0, left)) out[h]++;
  return out;
}

/**
 * A seeded sample of `size` mistakes, stratified by taxonomy category, and each stratum's size.
 *
 * @example
 * ```ts
 * import type { MistakeItem } from "./mistakes.ts";
 * declare const mistakes: MistakeItem[];
 * const { population, items } = sampleMistakes(mistakes, 48, 1);
 * ```
 */
export function sampleMistakes(
  mistakes: readonly MistakeItem[],
  size: number,
  seed: number,
): { population: Partial<Record<MistakeStratum, number>>; items: (MistakeItem & { stratum: MistakeStratum })[] } {
  const strata = new Map<MistakeStratum, MistakeItem[]>();
  for (const m of mistakes) strata.set(mistakeStratum(m), [...(strata.get(mistakeStratum(m)) ?? []), m]);
  const names = [...strata.keys()];
  const sizes = allocate(names.map((name) => strata.get(name)!.length), size);
  const items = names.flatMap((name, h) =>
    [...strata.get(name)!].sort(byKey(seed)).slice(0, sizes[h]).map((m) => ({ ...m, stratum: name }))
  );
  return {
    population: Object.fromEntries(names.map((name) => [name, strata.get(name)!.length])),
    items: items.sort((a, b) => a.index - b.index),
  };
}

/**
 * Explains the study sample: the sampled mistakes and flips the report's shown examples do not
 * already picture get pictures of their own (the same asset names, so none is written twice).
 *
 * @example
 * ```ts
 * import type { DataSource } from "../data/types.ts";
 * import type { AuditContext } from "./gpu_batch.ts";
 * import type { AuditResults } from "./run_audit.ts";
 * import type { AssetWriter } from "./assets.ts";
 * import type { Explanations, ExplainSettings } from "./explain_stage.ts";
 * declare const ctx: AuditContext, source: DataSource, results: AuditResults, assets: AssetWriter;
 * declare const settings: ExplainSettings, shown: Explanations;
 * const study = await explainStudy(ctx, source, results, { ...settings, study: 48 }, assets, shown);
 * ```
 */
export async function explainStudy(
  ctx: AuditContext,
  source: DataSource,
  results: AuditResults,
  settings: ExplainSettings & { study: number },
  assets: AssetWriter,
  shown: Explanations,
): Promise<StudySample> {
  const mistakes = sampleMistakes(results.mistakes.items, settings.study, settings.seed);
  const flips = results.studyFlips;
  const pictured = new Map(shown.mistakes.map((m) => [m.index, m]));
  const attacked = new Map(shown.adversarial.map((a) => [a.index, a]));
  const newMistakes = mistakes.items.filter((m) => !pictured.has(m.index));
  const newFlips = flips.items.filter((f) => !attacked.has(f.index));
  const images = await gatherImages(source, [...newMistakes, ...newFlips].map((x) => x.index), ctx.range);
  const per = sizeOf(source.shape);
  const byIndex = new Map<number, ImagePrediction>(results.predictions.map((p) => [p.index, p]));
  const explained = await explainExamples(
    ctx,
    new Overlays(ctx, settings.method, source.shape, assets, settings.saliencyOptions),
    {
      mistakes: newMistakes,
      mistakeImages: images.slice(0, newMistakes.length * per),
      flipped: newFlips,
      cleanImages: images.slice(newMistakes.length * per),
    },
    byIndex,
    settings,
  );
  for (const m of explained.mistakes) pictured.set(m.index, m);
  for (const a of explained.adversarial) attacked.set(a.index, a);
  return {
    seed: settings.seed,
    mistakes: {
      population: mistakes.population,
      items: mistakes.items.map((m) => {
        const p = pictured.get(m.index)!;
        const { index, label, predicted, confidence, image, saliency } = p;
        return { index, label, predicted, confidence, image, saliency, stratum: m.stratum };
      }),
    },
    adversarial: {
      population: flips.population,
      attack: settings.attack,
      // A flip the attack does not repeat when explained has no pictures, and is left out.
      items: flips.items.flatMap((f) => {
        const a = attacked.get(f.index);
        if (!a) return [];
        const { predicted, confidence, image, saliency } = a.adversarial;
        return [{ index: a.index, label: a.label, epsilon: a.epsilon, predicted, confidence, image, saliency }];
      }),
    },
  };
}
