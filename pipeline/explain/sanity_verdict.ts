/**
 * The sanity checks' verdicts: per method and test, each similarity measure's mean over the
 * images checked with a percentile bootstrap interval (bootstrap.ts), judged against a threshold.
 *
 * What each test's per-image value is: the cascade's last stage (every layer randomised); for the
 * independent test, the mean over the layers randomised one at a time; for the data test, the
 * random-label model's maps.
 *
 * The threshold: a method passes a measure when the interval's upper bound is below
 * SANITY_THRESHOLD = 0.5, that is when even the most favourable reading of the sample leaves the
 * randomised model's maps at most moderately similar to the trained model's (0.5 is where a
 * correlation is conventionally "large", Cohen 1988). Every measure is 1 for identical maps; the
 * rank and HOG correlations are near 0 for unrelated maps, SSIM of two unrelated sparse maps is
 * not (their shared empty background counts as similar), so SSIM is the strictest of the four. A
 * method passes a test when it passes every measure; with few images the interval is wide and a
 * pass is hard to earn, which is the point.
 *
 * @example
 * ```ts
 * import type { SanityChecks } from "./sanity.ts";
 * declare const checks: SanityChecks;
 * for (const v of sanityVerdicts(checks, null, { seed: 1 })) console.log(v.method, v.test, v.passes);
 * ```
 */
import { bootstrapMean, type BootstrapOptions, type Interval } from "./bootstrap.ts";
import type { DataRandomization } from "./data_randomisation.ts";
import { type Similarity, SIMILARITY_MEASURES, type SimilarityMeasure } from "./map_similarity.ts";
import type { SaliencyMethod } from "./saliency.ts";
import type { SanityChecks } from "./sanity.ts";

/** A measure's upper bound must be below this for a pass. */
export const SANITY_THRESHOLD = 0.5;

/** The tests, in the order reports list them. */
export const SANITY_TESTS = ["cascading", "independent", "data"] as const;
export type SanityTest = (typeof SANITY_TESTS)[number];

export interface MeasureVerdict extends Interval {
  passes: boolean;
}

export interface SanityVerdict {
  method: SaliencyMethod;
  test: SanityTest;
  measures: Record<SimilarityMeasure, MeasureVerdict>;
  /** Every measure passes. */
  passes: boolean;
}

/** Per image, the mean of each measure over the stages. */
function meanOverStages(stages: readonly { similarity: Similarity[] }[]): Similarity[] {
  return stages[0].similarity.map((_, i) =>
    Object.fromEntries(
      SIMILARITY_MEASURES.map((m) => [m, stages.reduce((s, st) => s + st.similarity[i][m], 0) / stages.length]),
    ) as Similarity
  );
}

/** The verdict of one method and test from its per-image similarities. */
function judge(
  method: SaliencyMethod,
  test: SanityTest,
  perImage: readonly Similarity[],
  options: BootstrapOptions,
): SanityVerdict {
  const measures = Object.fromEntries(SIMILARITY_MEASURES.map((m) => {
    const interval = bootstrapMean(perImage.map((s) => s[m]), options);
    return [m, { ...interval, passes: interval.high < SANITY_THRESHOLD }];
  })) as Record<SimilarityMeasure, MeasureVerdict>;
  return { method, test, measures, passes: SIMILARITY_MEASURES.every((m) => measures[m].passes) };
}

/** Verdicts of every method for the parameter tests and, when given, the data test. */
export function sanityVerdicts(
  checks: Pick<SanityChecks, "methods" | "independent">,
  data: DataRandomization | null,
  options: BootstrapOptions = {},
): SanityVerdict[] {
  const verdicts: SanityVerdict[] = [];
  for (const { method, stages } of checks.methods) {
    if (stages.length > 1) verdicts.push(judge(method, "cascading", stages[stages.length - 1].similarity, options));
    const independent = checks.independent.find((m) => m.method === method)?.stages ?? [];
    if (independent.length > 0) verdicts.push(judge(method, "independent", meanOverStages(independent), options));
    const shuffled = data?.find((m) => m.method === method);
    if (shuffled) verdicts.push(judge(method, "data", shuffled.similarity, options));
  }
  return verdicts;
}
