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
  /** Images of other labels predicted into the class. */
  count: z.number().int().min(0),
  /** Images of other labels. */
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
  /** intoClass.rate / restIntoClass.rate; null when the rest's rate is 0. */
  rateRatio: z.number().min(0).nullable(),
  /** One-sided Fisher exact test that this group's rate exceeds the rest's. */
  pValue: z.number().min(0).max(1),
  /** pValue x (classes x groups tested), capped at 1 (Bonferroni). */
  adjustedPValue: z.number().min(0).max(1),
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
  /** Some group is predicted into the class at >= rateRatio x the rest's rate, adjusted p < alpha. */
  flagged: z.boolean(),
  flaggedGroups: z.array(z.string()),
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
    /** Bonferroni factor: classes x groups. */
    comparisons: z.number().int().min(0),
    seed: z.number().int(),
    /** The audit's bounded feature store, planned before the batch pass (absent outside the audit). */
    featureStore: FeatureStore.optional(),
  }),
  classes: z.array(BiasClassSchema),
});

export type BiasClass = z.infer<typeof BiasClassSchema>;
export type BiasReport = z.infer<typeof BiasReportSchema>;
export type GroupFindingReport = z.infer<typeof GroupFinding>;
export type MmdFindingReport = z.infer<typeof MmdFinding>;
