/**
 * Runs the audit stages over a data source, one batch at a time: each batch goes to the GPU once
 * and through every per-batch stage (evaluation, then attacks), and the stage accumulators are
 * summarised at the end. Later stages (saliency, features) join the loop the same way.
 *
 * @example
 * ```ts
 * const results = await runAudit(ctx, source, hierarchy, settings, { progress: (done) => bar.update(done) });
 * console.log(results.evaluation.top1, results.robustness.curve);
 * ```
 */
import type { DataSource } from "../data/types.ts";
import type { Hierarchy } from "../hierarchy.ts";
import { imageBatches } from "./batches.ts";
import { type Evaluation, EvaluationAccumulator, type ImagePrediction, predictBatch } from "./evaluate.ts";
import { type AuditContext, GpuBatch } from "./gpu_batch.ts";
import { classifyMistakes, type Judgments, type MistakeCounts, type MistakeItem, rectifiedTop1 } from "./mistakes.ts";
import {
  RobustnessAccumulator,
  robustnessBatch,
  type RobustnessSettings,
  type RobustnessSummary,
} from "./robustness.ts";

export interface AuditSettings {
  batchSize: number;
  limit?: number;
  /** Margin below which a mistake counts as ambiguous. */
  lowMargin: number;
  /** Superclass depth of the taxonomy, the rectified top-1 and the flip landing. */
  depth: number;
  robustness: RobustnessSettings;
  /** Human judgments of mistakes, by example index (the review tool's output). */
  judgments?: Judgments;
}

export interface AuditHooks {
  /** After each batch: images done, and the stage now running within the batch. */
  progress?(done: number, stage: string): void;
}

export interface AuditResults {
  evaluation: Evaluation;
  predictions: ImagePrediction[];
  rectifiedTop1: number;
  mistakes: { items: MistakeItem[]; counts: MistakeCounts };
  robustness: RobustnessSummary;
  /** Seconds spent per stage, summed over batches. */
  timings: Record<string, number>;
}

/** Streams `source` through the evaluation and robustness stages and summarises them. */
export async function runAudit(
  ctx: AuditContext,
  source: DataSource,
  hierarchy: Hierarchy,
  settings: AuditSettings,
  hooks: AuditHooks = {},
): Promise<AuditResults> {
  const evaluation = new EvaluationAccumulator(hierarchy.classes);
  const robustness = new RobustnessAccumulator(settings.robustness, hierarchy, ctx.range[1] - ctx.range[0]);
  const clock = new StageClock("data");
  let done = 0;
  const batches = imageBatches(source, {
    batchSize: settings.batchSize,
    limit: settings.limit,
    range: ctx.range,
    classes: hierarchy.classes.length,
  });
  const enter = (stage: string) => {
    clock.enter(stage);
    hooks.progress?.(done, stage);
  };
  for await (const host of batches) {
    using batch = GpuBatch.upload(ctx, host);
    enter("evaluate");
    const predictions = await predictBatch(ctx, batch);
    evaluation.add(predictions);
    const clean = predictions.map((p) => p.top[0]);
    robustness.add(await robustnessBatch(ctx, batch, clean, settings.robustness, enter));
    done += host.count;
    enter("data"); // reading and uploading the next batch
  }
  clock.enter("done");
  const preds = evaluation.predictions;
  return {
    evaluation: evaluation.finish(),
    predictions: preds,
    rectifiedTop1: rectifiedTop1(preds, hierarchy, { depth: settings.depth, judgments: settings.judgments }),
    mistakes: classifyMistakes(preds, hierarchy, { depth: settings.depth, lowMargin: settings.lowMargin }),
    robustness: robustness.finish(),
    timings: clock.seconds,
  };
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
