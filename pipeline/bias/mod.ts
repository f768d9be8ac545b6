/**
 * The bias tool's door: MMD-critic prototypes and criticisms per predicted class in the model's
 * feature space, kernel two-sample tests between groups, group rates and the `flagged` verdict,
 * the report schema, and the prototype grid picture.
 *
 * @example
 * ```ts
 * import { collectFeatures } from "../explain/features.ts";
 * import type { Executor } from "../model/executor.ts";
 * import type { DataSource } from "../data/types.ts";
 * import type { Manifest } from "../model/manifest.ts";
 * declare const exec: Executor, manifest: Manifest, source: DataSource;
 * const table = await collectFeatures(exec, source.examples());
 * const groups = await readGroupsFile("groups.csv", { count: source.count });
 * const bias = await runBiasStage(exec.gpu, { table, classNames: manifest.classes, groups });
 * ```
 */
export { type BiasInput, type BiasOptions, runBiasStage } from "./bias_stage.ts";
export { fisherGreater } from "./fisher.ts";
export { DEFAULT_GRAM_BUDGET, GramEngine } from "./gram.ts";
export { confusionByGroup, groupFindings, intoClassStrata, intoClassTest } from "./group_rates.ts";
export { groupFlags } from "./group_flags.ts";
export { holmAdjust } from "./holm.ts";
export {
  exactStratifiedGreater,
  mantelHaenszelOddsRatio,
  mantelHaenszelRateRatio,
  type Stratum,
} from "./stratified.ts";
export { formatGroupsCsv, type Groups, parseGroupsCsv, readGroupsFile } from "./groups.ts";
export {
  gammaOf,
  medianBandwidth,
  mmd2,
  type MmdOptions,
  type MmdResult,
  mmdTest,
  type MmdTestResult,
  subsampleRows,
} from "./mmd.ts";
export { mmdCritic, type MmdCriticOptions, type MmdCriticResult, mmdCriticWorkBound } from "./mmd_critic.ts";
export { prototypeGrid } from "./prototype_grid.ts";
export { type BiasClass, BiasClassSchema, type BiasReport, BiasReportSchema } from "../schema/bias.ts";
