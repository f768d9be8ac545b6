/**
 * The `bias` part of report.json (zod). Tools read `bias.classes[] {label, prototypes[] {index},
 * criticisms[] {index}, flagged}` (DESIGN.md); an `index` is the example's position in the data
 * source's order. Everything else here is detail for the HTML report and for people.
 *
 * @example
 * ```ts
 * const report = JSON.parse(await Deno.readTextFile("audit-report/report.json"));
 * const bias = BiasReportSchema.parse(report.bias);
 * console.log(bias.classes.filter((c) => c.flagged).map((c) => c.name));
 * ```
 */
import { z } from "zod";
import { AssetPathSchema } from "./asset_path.ts";
import { CounterfactualReportSchema } from "./counterfactual.ts";

const Example = z.object({
  /** Position in the data source's order. */
  index: z.number().int().min(0),
  /** True label. */
  label: z.number().int().min(0),
  group: z.string().optional(),
});

const Prototype = Example;
const Criticism = Example.extend({
  /** Witness function value: > 0 under-represented by the prototypes, < 0 over-represented. */
  witness: z.number(),
});

const Rate = z.object({
  /** Images counted (into the class: of other labels predicted as it; accuracy: of the class predicted as it). */
  count: z.number().int().min(0),
  /** Images they are counted among. */
  of: z.number().int().min(0),
  rate: z.number().min(0).max(1),
});

const GroupFinding = z.object({
  group: z.string(),
  /** Images of this group predicted as the class, and their share of the class's pool. */
  poolCount: z.number().int().min(0),
  poolShare: z.number().min(0).max(1),
  /** Share of the prototypes from this group. */
  prototypeShare: z.number().min(0).max(1),
  /** This group's images of other labels predicted into the class, and the other groups'. */
  intoClass: Rate,
  restIntoClass: Rate,
  /** intoClass.rate / restIntoClass.rate, pooled over labels; null when the rest's rate is 0. */
  rateRatio: z.number().min(0).nullable(),
  /** The Mantel-Haenszel rate ratio and odds ratio over the strata of true labels (what a flag needs). */
  stratifiedRateRatio: z.number().min(0).nullable().optional(),
  oddsRatio: z.number().min(0).nullable().optional(),
  /** One-sided exact CMH test, stratified by true label, that this group's rate exceeds the rest's. */
  pValue: z.number().min(0).max(1),
  /** Holm-adjusted over the family of every group test and MMD test of the report. */
  adjustedPValue: z.number().min(0).max(1),
  /** The one-sided Fisher exact test pooled over labels (blind to each group's mix of labels). */
  pooledPValue: z.number().min(0).max(1).optional(),
  /** This group's images of the class predicted as it, and the other groups'. */
  accuracy: Rate.optional(),
  restAccuracy: Rate.optional(),
  /** This group's error rate on the class over the rest's; null when the rest makes no error. */
  errorRatio: z.number().min(0).nullable().optional(),
  /** One-sided Fisher exact test that this group's error rate on the class exceeds the rest's, and its Holm adjustment. */
  accuracyPValue: z.number().min(0).max(1).optional(),
  accuracyAdjustedPValue: z.number().min(0).max(1).optional(),
});

/** The same test with the images predicted as the other flags' classes left out (the mirror check). */
const RestrictedTest = z.object({
  /** Classes whose predictions were left out. */
  without: z.array(z.number().int().min(0)),
  ratio: z.number().min(0).nullable(),
  pValue: z.number().min(0).max(1),
});

const GroupFlag = z.object({
  group: z.string(),
  /** "into": the group's other images are pulled into the class; "accuracy": its images of the class are missed more. */
  direction: z.enum(["into", "accuracy"]),
  /** stratifiedRateRatio or errorRatio; null: the rest's rate is 0. */
  ratio: z.number().min(0).nullable(),
  adjustedPValue: z.number().min(0).max(1),
  restricted: RestrictedTest.nullable(),
  /** The flags this one mirrors (empty: a finding of its own). */
  mirrorOf: z.array(
    z.object({ label: z.number().int().min(0), group: z.string(), direction: z.enum(["into", "accuracy"]) }),
  ),
  /** One line: why the flag is a mirror, or for an accuracy flag where the group's missed images went; or null. */
  diagnosis: z.string().nullable(),
});

const MmdFinding = z.object({
  /** The two sides: two groups, or a group and "rest" (the pool's other grouped images). */
  groups: z.tuple([z.string(), z.string()]),
  sizes: z.tuple([z.number().int().min(1), z.number().int().min(1)]),
  biased: z.number().min(0),
  unbiased: z.number().nullable(),
  sigma: z.number().positive(),
  /** Permutation test of "same distribution of features"; the observed labelling counts. */
  pValue: z.number().min(0).max(1),
  /** Holm-adjusted with the group tests. */
  adjustedPValue: z.number().min(0).max(1).optional(),
  permutations: z.number().int().min(0),
});

const SaliencyMap = z.object({
  height: z.number().int().min(1),
  width: z.number().int().min(1),
  /** Row-major, height x width. */
  values: z.array(z.number()),
  peak: z.object({ row: z.number().int().min(0), column: z.number().int().min(0) }),
});

const FeatureStore = z.object({
  /** Feature rows kept per predicted class at most (a seeded uniform sample beyond it). */
  rowsPerClass: z.number().int().min(1),
  /** Floats per feature row. */
  featureWidth: z.number().int().min(1),
  classes: z.number().int().min(1),
  /** Rows the store could keep at most, min(images, classes x rowsPerClass), and their MiB (4 bytes a float). */
  maxRows: z.number().int().min(0),
  maxMb: z.number().min(0),
  /** MiB of feature rows held in memory at most; beyond it rows went to disk. */
  budgetMb: z.number().min(0),
  /** Whether some rows went to disk (the findings are the same either way). */
  spilled: z.boolean(),
  /** Rows kept at the end, and the most MiB of them held in memory at once. */
  keptRows: z.number().int().min(0),
  peakHeldMb: z.number().min(0),
  /** Upper bound on MMD-critic's Gram work over all classes, in multiply-adds (linear in maxRows). */
  multiplyAddsBound: z.number().min(0),
});

const SliceCount = z.object({ size: z.number().int().min(0), mistakes: z.number().int().min(0) });

/** A slice of the class's images (slices.ts): a kernel ball in feature space around a seed. */
const Slice = z.object({
  /** The seed image: a criticism of the class, or one of its mistakes. */
  seed: Example.extend({ kind: z.enum(["criticism", "mistake"]) }),
  /** Images in the slice, and their share of the class's sampled feature rows. */
  size: z.number().int().min(1),
  share: z.number().min(0).max(1),
  /** Mistakes (label other than the class) in the slice, their rate and its 95% Wilson interval. */
  mistakes: z.number().int().min(0),
  errorRate: z.number().min(0).max(1),
  interval: z.tuple([z.number().min(0).max(1), z.number().min(0).max(1)]),
  /** The rest of the class's rows. */
  rest: SliceCount,
  restErrorRate: z.number().min(0).max(1),
  /** errorRate / restErrorRate; null when the rest has no mistake. */
  ratio: z.number().min(0).nullable(),
  /** The holdout half (not used to choose the slice), its one-sided Fisher p and its Holm adjustment over all slices. */
  holdout: z.object({ slice: SliceCount, rest: SliceCount }),
  pValue: z.number().min(0).max(1),
  adjustedPValue: z.number().min(0).max(1),
  /** True labels in the slice, most frequent first (at most 5). */
  labels: z.array(z.object({ label: z.number().int().min(0), count: z.number().int().min(1) })),
  /** MMD-critic prototypes of the slice. */
  prototypes: z.array(Example),
  /** Passes the thresholds: share, ratio and adjusted p (settings.slices). */
  found: z.boolean(),
  /** The slice's prototypes as one PNG row (report folder path). */
  grid: AssetPathSchema.optional(),
});

export const BiasClassSchema = z.object({
  /** Class index. */
  label: z.number().int().min(0),
  name: z.string(),
  /** Images predicted as this class (the pool MMD-critic summarises). */
  poolSize: z.number().int().min(0),
  /** RBF bandwidth of the class's MMD-critic run (median heuristic unless given). */
  sigma: z.number().positive().nullable(),
  prototypes: z.array(Prototype),
  criticisms: z.array(Criticism),
  /** Mean saliency map of the prototypes (gradient of this class's logit). */
  meanPrototypeSaliency: SaliencyMap.optional(),
  groups: z.array(GroupFinding).optional(),
  mmd: z.array(MmdFinding).optional(),
  /**
   * A group test of the class passes the ratio and adjusted-p thresholds and is no mirror of another
   * flag: some group is pulled into the class, or its images of the class are missed more.
   */
  flagged: z.boolean(),
  /** The groups of those flags. */
  flaggedGroups: z.array(z.string()),
  /** Every flag of the class, mirrors included, with its diagnosis. */
  flags: z.array(GroupFlag).optional(),
  /** Slices of the class's mistakes found without group labels, best first. */
  slices: z.array(Slice).optional(),
  /** The class's prototypes, criticisms and mean prototype saliency as one PNG row (report folder path). */
  grid: AssetPathSchema.optional(),
});

export const BiasReportSchema = z.object({
  settings: z.object({
    featureNode: z.string(),
    prototypes: z.number().int().min(0),
    criticisms: z.number().int().min(0),
    permutations: z.number().int().min(0),
    alpha: z.number().positive(),
    rateRatio: z.number().positive(),
    /** How `flagged` is decided, in words. */
    significance: z.string(),
    /** Tests in the family the p-values are adjusted over (group tests both ways and MMD tests). */
    comparisons: z.number().int().min(0),
    /** The adjustment: "holm" (absent in reports before it: Bonferroni over classes x groups). */
    correction: z.enum(["holm"]).optional(),
    seed: z.number().int(),
    /** How slices are found and judged (absent when not searched). */
    slices: z.object({
      seeds: z.number().int().min(0),
      minSize: z.number().int().min(1),
      minShare: z.number().min(0).max(1),
      maxPerClass: z.number().int().min(0),
      /** Slices tested (the Holm family of slice p-values). */
      comparisons: z.number().int().min(0),
      /** Upper bound on the search's Gram work over all classes, in multiply-adds (class_slices.ts). */
      multiplyAddsBound: z.number().min(0).optional(),
    }).optional(),
    /** The audit's bounded feature store, planned before the batch pass (absent outside the audit). */
    featureStore: FeatureStore.optional(),
  }),
  classes: z.array(BiasClassSchema),
  /** The counterfactual test of `--counterfactual`, when given. */
  counterfactual: CounterfactualReportSchema.optional(),
});

export type BiasClass = z.infer<typeof BiasClassSchema>;
export type BiasReport = z.infer<typeof BiasReportSchema>;
export type GroupFindingReport = z.infer<typeof GroupFinding>;
export type MmdFindingReport = z.infer<typeof MmdFinding>;
export type GroupFlagReport = z.infer<typeof GroupFlag>;
export type SliceReport = z.infer<typeof Slice>;
