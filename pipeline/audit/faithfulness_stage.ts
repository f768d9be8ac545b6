/**
 * The faithfulness stage, run over the whole set after the explanations (in a sharded audit, once,
 * by the merge): every compared saliency method (`--compare-methods`) measured on a seeded sample
 * of the audited images (explain/faithfulness.ts), each metric's mean with a seeded percentile-bootstrap interval
 * (explain/interval.ts), the mean curves, and the methods ranked for this model: per metric by
 * its mean (deletion and max-sensitivity lower is better, insertion and the correlation higher),
 * overall by the mean of the four ranks, ties by deletion.
 *
 * @example
 * ```ts
 * import type { DataSource } from "../data/types.ts";
 * import type { AuditContext } from "./gpu_batch.ts";
 * import type { AuditResults } from "./run_audit.ts";
 * declare const ctx: AuditContext, source: DataSource, results: AuditResults;
 * const methods = ["gradient", "gradcam"] as const;
 * const report = await faithfulnessAudit(ctx, source, results, { images: 8, seed: 1, methods });
 * console.log(report.methods[0].method, report.methods[0].deletion?.mean);
 * ```
 */
import type { DataSource } from "../data/types.ts";
import { FAITHFULNESS_DEFAULTS, insertionBlurSigma, measureFaithfulness } from "../explain/faithfulness.ts";
import { bootstrapMean } from "../explain/interval.ts";
import type { SaliencyMethod } from "../explain/saliency.ts";
import { seededPermutation } from "../io/prng.ts";
import { FAITHFULNESS_METRICS, type FaithfulnessMetric, type FaithfulnessReport } from "../schema/faithfulness.ts";
import { gatherImages } from "./gather.ts";
import { type AuditContext, defaultBatchSize } from "./gpu_batch.ts";
import type { AuditResults } from "./run_audit.ts";

/** Images measured by default: the stage stays a few seconds of the default audit (the README has the figures). */
export const DEFAULT_FAITHFULNESS_IMAGES = 8;

/** The bootstrap's resamples and coverage. */
const INTERVAL = { resamples: 2000, level: 0.95 } as const;

export interface FaithfulnessSettings {
  /** Images of the seeded sample (all audited images when fewer). */
  images: number;
  seed: number;
  /** The methods measured and ranked. */
  methods: readonly SaliencyMethod[];
}

/** Measures and ranks every saliency method on a seeded sample of the audited images. */
export async function faithfulnessAudit(
  ctx: AuditContext,
  source: DataSource,
  results: AuditResults,
  settings: FaithfulnessSettings,
): Promise<FaithfulnessReport> {
  const { predictions } = results;
  const n = Math.min(settings.images, predictions.length);
  const picked = [...seededPermutation(predictions.length, settings.seed ^ 0xfa17).subarray(0, n)].sort((a, b) =>
    a - b
  );
  const indices = picked.map((k) => predictions[k].index);
  const images = await gatherImages(source, indices, ctx.range);
  const [, height, width] = source.shape;
  const measured = await measureFaithfulness(ctx.exec, images, n, {
    methods: settings.methods,
    indices,
    seed: settings.seed,
    imagesPerPass: defaultBatchSize(ctx.exec),
    inputRange: ctx.range,
  });
  const points = FAITHFULNESS_DEFAULTS.steps + 1;
  const meanCurve = (curves: Float32Array) =>
    Array.from({ length: points }, (_, k) => {
      let sum = 0;
      for (let i = 0; i < n; i++) sum += curves[i * points + k];
      return n > 0 ? sum / n : 0;
    });
  const metrics = Object.keys(FAITHFULNESS_METRICS) as FaithfulnessMetric[];
  const rows = measured.methods.map((m, j) => {
    const intervals = Object.fromEntries(metrics.map((metric, k) => {
      const finite = m[metric].filter(Number.isFinite);
      const seed = (settings.seed + 7919 * (j * metrics.length + k + 1)) >>> 0;
      return [metric, bootstrapMean(finite, { seed, ...INTERVAL })];
    })) as Record<FaithfulnessMetric, ReturnType<typeof bootstrapMean>>;
    return {
      method: m.method,
      ...intervals,
      deletionCurve: meanCurve(m.deletionCurves),
      insertionCurve: meanCurve(m.insertionCurves),
    };
  });
  return {
    images: n,
    indices,
    steps: FAITHFULNESS_DEFAULTS.steps,
    deletionBaseline: "black",
    insertionBaseline: "blur",
    blurSigma: insertionBlurSigma(height, width),
    subsets: FAITHFULNESS_DEFAULTS.subsets,
    subsetSize: Math.max(1, Math.round(height * width * FAITHFULNESS_DEFAULTS.subsetShare)),
    sensitivitySamples: FAITHFULNESS_DEFAULTS.sensitivitySamples,
    sensitivityRadius: FAITHFULNESS_DEFAULTS.sensitivityRadius * (ctx.range[1] - ctx.range[0]),
    interval: { kind: "percentile-bootstrap", ...INTERVAL },
    fractions: Array.from(measured.fractions),
    methods: rankMethods(rows, metrics),
  };
}

type Row = Omit<FaithfulnessReport["methods"][number], "rank" | "ranks">;

/**
 * Ranks per metric (equal means share the better rank; a method without a value is last) and
 * overall (by the mean of the metric ranks, ties by deletion's rank), best first.
 */
export function rankMethods(
  rows: readonly Row[],
  metrics: readonly FaithfulnessMetric[],
): FaithfulnessReport["methods"] {
  const score = (row: Row, metric: FaithfulnessMetric) => {
    const mean = row[metric]?.mean;
    if (mean === undefined) return Infinity;
    return FAITHFULNESS_METRICS[metric] === "lower" ? mean : -mean;
  };
  const ranked = rows.map((row) => {
    const ranks = Object.fromEntries(metrics.map((metric) => {
      const own = score(row, metric);
      return [metric, 1 + rows.filter((other) => score(other, metric) < own).length];
    })) as Record<FaithfulnessMetric, number>;
    return { row, ranks, overall: metrics.reduce((sum, metric) => sum + ranks[metric], 0) / metrics.length };
  });
  ranked.sort((a, b) => a.overall - b.overall || a.ranks.deletion - b.ranks.deletion);
  return ranked.map(({ row, ranks }, i) => ({ ...row, rank: i + 1, ranks }));
}
