/**
 * The per-batch part of the audit: the data source is streamed in batches (async generators, so
 * memory holds one batch however large the set), and each batch goes to the GPU once and through
 * every per-batch stage: evaluation with the features of the same forward pass, then the attacks
 * on the images of the attack sample. The stage accumulators are summarised at the end; memory
 * grows with the data set only by a few numbers per image and the bounded per-class feature store.
 *
 * Each finished batch is also written as a chunk (see chunks.ts): with a store that already holds
 * chunks, those batches are replayed from disk instead of recomputed, and an abort signal stops the
 * loop between batches, keeping the finished ones. The attacks' random starts are seeded per image
 * (by the seed and its data index), so a resumed run computes what an uninterrupted one would have.
 *
 * @example
 * ```ts
 * import type { DataSource } from "../data/types.ts";
 * import type { Hierarchy } from "../model/hierarchy.ts";
 * import type { AuditContext } from "./gpu_batch.ts";
 * declare const ctx: AuditContext, source: DataSource, hierarchy: Hierarchy, settings: AuditSettings;
 * const results = await runAudit(ctx, source, hierarchy, settings, { progress: (done) => console.error(done) });
 * if (results) console.log(results.evaluation.top1, results.robustness.curve);
 * ```
 */
import type { DataSource } from "../data/types.ts";
import type { RealLabels } from "../data/real_labels.ts";
import type { FeatureTable } from "../explain/features.ts";
import type { Hierarchy } from "../model/hierarchy.ts";
import { batchedCount, imageBatches } from "./batches.ts";
import type { Chunk, ChunkSource } from "./chunks.ts";
import { type Evaluation, EvaluationAccumulator, type ImagePrediction, predictWithFeatures } from "./evaluate.ts";
import { type AuditContext, GpuBatch } from "./gpu_batch.ts";
import { type FeaturePlan, FeatureStore, type StoredFeatures } from "./feature_store.ts";
import { mulberry32 } from "../io/prng.ts";
import { flipBrackets } from "./min_epsilon.ts";
import type { Judgments } from "../schema/review.ts";
import { classifyMistakes, type MistakeCounts, type MistakeItem, rectifiedTop1 } from "./mistakes.ts";
import { type RealAccuracy, realAccuracy } from "./real_accuracy.ts";
import {
  type BatchRobustness,
  RobustnessAccumulator,
  robustnessBatch,
  type RobustnessSettings,
  type RobustnessSummary,
} from "./robustness.ts";
import { type HierarchyFigures, hierarchyFigures } from "./severity.ts";
import { BottomK } from "./study_sample.ts";

export interface AuditSettings {
  batchSize: number;
  limit?: number;
  /** Margin below which a mistake counts as ambiguous. */
  lowMargin: number;
  /** Superclass depth of the taxonomy, the rectified top-1 and the flip landing. */
  depth: number;
  robustness: RobustnessSettings;
  /** Images attacked: a seeded sample of this many (all when null or not smaller than the set). */
  attackSample: number | null;
  /** Seed of the attack sample and of the attacks' random starts. */
  seed: number;
  /** The node whose activations are the features of the bias stage; null collects none. */
  featureNode: string | null;
  /** The feature store's bounds (feature_store.ts); null when featureNode is. */
  featurePlan: FeaturePlan | null;
  /** Only the batches first .. end - 1 (a shard's, see shards.ts); default: all. */
  batches?: { first: number; end: number };
  /** Human judgments of mistakes, by example index (the review tool's output). */
  judgments?: Judgments;
  /** Each image's valid labels (ImageNet-ReaL), for the ReaL accuracy and the "other object" mistakes. */
  realLabels?: RealLabels;
  /** Human study: the size of the seeded sample of flips kept (study_sample.ts); 0 or absent keeps none. */
  study?: number;
}

/** What the batch pass reports to, writes to and stops on. */
export interface RunAuditHooks {
  /** After each batch: images done, and the stage now running within the batch. */
  progress?(done: number, stage: string): void;
  /** Where finished batches go (and come back from, when resuming), and feature rows beyond their budget. */
  chunks?: ChunkSource;
  /** When aborted, the loop stops after the batch in flight; the results are then null. */
  signal?: AbortSignal;
}

/** A correctly classified attacked image and the smallest swept epsilon that flipped it. */
export interface FlippedImage {
  index: number;
  label: number;
  epsilon: number;
}

export interface AuditResults {
  evaluation: Evaluation;
  predictions: ImagePrediction[];
  rectifiedTop1: number;
  /** Accuracy against the real labels; null without them. */
  real: RealAccuracy | null;
  mistakes: { items: MistakeItem[]; counts: MistakeCounts };
  /** Within-depth shares and severity of the mistakes; null for a hierarchy of one level. */
  hierarchy: HierarchyFigures | null;
  robustness: RobustnessSummary;
  /** The first flipped images in data order (at most `keepFlipped`), for the adversarial examples shown. */
  flipped: FlippedImage[];
  /** Human study: a seeded sample of all flipped images (bottom-k by key), and how many flipped in all. */
  studyFlips: { items: FlippedImage[]; population: number };
  /** One row per image, in data order; null without a feature node. */
  features: FeatureTable | null;
  /** What the feature store kept and where; null without a feature node. */
  featureStore: StoredFeatures | null;
  /** Seconds spent per stage, summed over batches (replayed batches count under "resumed"). */
  timings: Record<string, number>;
}

/** How many flipped images the results keep as candidates for the report's adversarial examples. */
const KEEP_FLIPPED = 64;

/**
 * Streams `source` through the evaluation, feature and robustness stages and summarises them.
 * Returns null when `hooks.signal` stopped it early.
 */
export async function runAudit(
  ctx: AuditContext,
  source: DataSource,
  hierarchy: Hierarchy,
  settings: AuditSettings,
  hooks: RunAuditHooks = {},
): Promise<AuditResults | null> {
  const evaluation = new EvaluationAccumulator(hierarchy.classes);
  const robustness = new RobustnessAccumulator(settings.robustness, hierarchy, ctx.range[1] - ctx.range[0]);
  const { featureNode, featurePlan } = settings;
  const features = featureNode !== null && featurePlan
    ? new FeatureStore(featurePlan, featureNode, settings.seed, hooks.chunks?.dir ?? null)
    : null;
  const flipped: FlippedImage[] = [];
  const studyFlips = new BottomK<FlippedImage>(settings.study ?? 0, settings.seed);
  const clock = new StageClock("data");
  const total = batchedCount(source, settings.limit);
  const attacked = attackSample(total, settings.attackSample, settings.seed);
  let done = 0;
  const enter = (stage: string) => {
    clock.enter(stage);
    hooks.progress?.(done, stage);
  };
  const take = async (chunk: Chunk) => {
    evaluation.add(chunk.predictions);
    await features?.add(chunk.features, chunk.predictions);
    if (chunk.robustness) {
      robustness.add(chunk.robustness);
      const flips = flippedImages(chunk.robustness, settings.robustness);
      if (flipped.length < KEEP_FLIPPED) flipped.push(...flips);
      studyFlips.add(flips);
    }
    done += chunk.predictions.length;
  };
  const batches = imageBatches(source, {
    batchSize: settings.batchSize,
    limit: settings.limit,
    range: ctx.range,
    classes: hierarchy.classes.length,
  });
  let b = 0;
  for await (const host of batches) {
    if (hooks.signal?.aborted) return null;
    if (settings.batches && b < settings.batches.first) {
      b++;
      continue;
    }
    if (settings.batches && b >= settings.batches.end) break;
    if (hooks.chunks?.has(b)) {
      enter("resumed");
      await take(await hooks.chunks.read(b++));
      enter("data");
      continue;
    }
    using batch = GpuBatch.upload(ctx, host);
    enter("evaluate");
    const { predictions, features: rows } = await predictWithFeatures(ctx, batch, settings.featureNode);
    const subset = host.indices.flatMap((index, i) => (attacked(index) ? [i] : []));
    let batchRobustness: BatchRobustness | null = null;
    if (subset.length > 0) {
      using sample = subset.length === host.count ? null : GpuBatch.upload(ctx, host, subset);
      const clean = subset.map((i) => predictions[i].top[0]);
      batchRobustness = await robustnessBatch(ctx, sample ?? batch, clean, settings.robustness, enter);
    }
    const chunk = { batch: b++, predictions, robustness: batchRobustness, features: rows };
    enter("save");
    await hooks.chunks?.write(chunk);
    await take(chunk);
    enter("data"); // reading and uploading the next batch
  }
  clock.enter("done");
  const preds = evaluation.predictions;
  return {
    evaluation: evaluation.finish(),
    predictions: preds,
    rectifiedTop1: rectifiedTop1(preds, hierarchy, { depth: settings.depth, judgments: settings.judgments }),
    real: settings.realLabels ? realAccuracy(preds, settings.realLabels) : null,
    mistakes: classifyMistakes(preds, hierarchy, {
      depth: settings.depth,
      lowMargin: settings.lowMargin,
      real: settings.realLabels,
    }),
    hierarchy: hierarchy.maxDepth >= 2 ? hierarchyFigures(preds, hierarchy) : null,
    robustness: robustness.finish(),
    flipped: flipped.slice(0, KEEP_FLIPPED),
    studyFlips: { items: studyFlips.items, population: studyFlips.seen },
    features: features?.finish(preds) ?? null,
    featureStore: features?.stored ?? null,
    timings: clock.seconds,
  };
}

/**
 * Whether the image at a data index is attacked: all of them, or a seeded sample of `sample` of
 * the first `total` (a random subset, so a source sorted by class is still sampled evenly).
 */
export function attackSample(total: number, sample: number | null, seed: number): (index: number) => boolean {
  if (sample === null || sample >= total) return () => true;
  const random = mulberry32(seed ^ 0x5eed);
  const chosen = new Uint8Array(total);
  // Floyd's algorithm: `sample` distinct indices, each subset equally likely.
  for (let j = total - sample; j < total; j++) {
    const t = Math.floor(random() * (j + 1));
    chosen[chosen[t] ? j : t] = 1;
  }
  return (index) => chosen[index] === 1;
}

/** The images of a batch's sweep that the chosen attack flipped, with the first swept epsilon that did. */
function flippedImages(batch: BatchRobustness, settings: RobustnessSettings): FlippedImage[] {
  const sweep = batch.sweeps[settings.attack];
  if (!sweep) return [];
  const brackets = flipBrackets(batch.clean, batch.labels, sweep, settings.epsilons);
  return batch.indices.flatMap((index, i) => {
    const bracket = brackets[i];
    return bracket ? [{ index, label: batch.labels[i], epsilon: bracket.hi }] : [];
  });
}

/** Wall time per stage: the time between entering a stage and entering the next is the stage's. */
class StageClock {
  readonly seconds: Record<string, number> = {};
  #stage: string;
  #since = performance.now();

  constructor(first: string) {
    this.#stage = first;
  }

  enter(stage: string): void {
    const now = performance.now();
    this.seconds[this.#stage] = (this.seconds[this.#stage] ?? 0) + (now - this.#since) / 1000;
    this.#stage = stage;
    this.#since = now;
  }
}
