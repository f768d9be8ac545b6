/**
 * The audit, after Stock & Cisse (ECCV 2018): `audit` runs it from its options (audit.ts); the
 * stages it runs are exported too: evaluation and calibration, the mistake taxonomy and rectified
 * accuracy, ReaL accuracy against multi-label truth, FGSM/PGD/APGD/AutoAttack robustness with the epsilons that flip (upper bounds) and where flips land in the class
 * hierarchy, the explanations, the bias stage, and the report they make.
 *
 * @example
 * ```ts
 * const outcome = await audit({ data: "mnist", limit: 200, out: "audit-report", force: true });
 * if (!outcome.stopped) console.log(formatSummary(outcome.report));
 * ```
 */
export {
  audit,
  type AuditHooks,
  type AuditOptions,
  AuditOptionsSchema,
  type AuditOutcome,
  auditShard,
  type AuditStage,
  DEFAULT_ATTACK_SAMPLE,
  DEFAULT_FEATURE_BUDGET_MB,
  type ShardOutcome,
  type StageProgress,
} from "./audit.ts";
export { mergeShards } from "./merge.ts";
export {
  MAX_SHARDS,
  parseShard,
  rangeImages,
  type Shard,
  SHARD_RECORD,
  shardBatches,
  type ShardRecord,
  SHARDS_DIR,
  ShardSet,
} from "./shards.ts";
export {
  attackBatch,
  type AttackKind,
  type AttackOptions,
  type AttackResult,
  cleanGradient,
  PGD_DEFAULTS,
  type PgdSettings,
} from "./attacks.ts";
export { AssetWriter } from "./assets.ts";
export { biasAudit, type BiasSettings } from "./bias_audit.ts";
export { type Chunk, type ChunkSource, ChunkStore, type ChunkStoreOptions, PARTIAL_DIR } from "./chunks.ts";
export { deepFool, DEEPFOOL_DEFAULTS, type DeepFoolResult, type DeepFoolSettings } from "./deepfool.ts";
export { explainAudit, type ExplainSettings, type Explanations } from "./explain_stage.ts";
export { FeatureSpill } from "./feature_spill.ts";
export {
  describeFeaturePlan,
  type FeaturePlan,
  FeatureStore,
  planFeatures,
  type StoredFeatures,
} from "./feature_store.ts";
export { gatherImages } from "./gather.ts";
export type { Norm } from "./iterative_attack.ts";
export { batchedCount, type BatchOptions, type ImageBatch, imageBatches } from "./batches.ts";
export {
  confidenceOf,
  type Evaluation,
  EvaluationAccumulator,
  type ImagePrediction,
  isCorrect,
  marginOf,
  predictBatch,
  predictWithFeatures,
  summarizePredictions,
  TOP_K,
} from "./evaluate.ts";
export { type AuditContext, createAuditContext, defaultBatchSize, GpuBatch, selectImages } from "./gpu_batch.ts";
export {
  calibration,
  CALIBRATION_BINS,
  type CalibrationBin,
  type ClassAccuracy,
  confusionMatrix,
  perClassAccuracy,
} from "./metrics.ts";
export { bisectFlipEpsilons, type Bracket, flipBrackets } from "./min_epsilon.ts";
export { classifyMistakes, LOW_MARGIN, type MistakeCounts, type MistakeItem, rectifiedTop1 } from "./mistakes.ts";
export { type RealAccuracy, realAccuracy } from "./real_accuracy.ts";
export { buildReport, type ReportMeta } from "./report.ts";
export {
  type BatchRobustness,
  type CurvePoint,
  DEFAULT_EPSILONS,
  DEFAULT_L2_EPSILONS,
  type FlipMedians,
  RobustnessAccumulator,
  robustnessBatch,
  type RobustnessSettings,
  type RobustnessSummary,
} from "./robustness.ts";
export {
  attackSample,
  type AuditResults,
  type AuditSettings,
  type FlippedImage,
  runAudit,
  type RunAuditHooks,
} from "./run_audit.ts";
export { formatSummary } from "./summary.ts";
export { TRUST_THRESHOLDS, trustWarnings } from "./trust_checks.ts";
