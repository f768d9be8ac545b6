/**
 * The schema of `report.json`'s `faithfulness` key: each saliency method's deletion and insertion
 * areas, faithfulness correlation and max-sensitivity (pipeline/explain/faithfulness.ts states
 * their definitions) as means over a seeded sample of images with percentile-bootstrap intervals,
 * the mean curves, and the methods' ranks for this model. A sharded audit's merge computes it once,
 * over the whole set, like the explanations.
 *
 * @example
 * ```ts
 * declare const json: unknown;
 * const faithfulness = FaithfulnessReportSchema.parse(json);
 * console.log(faithfulness.methods.map((m) => `${m.rank}. ${m.method}`));
 * ```
 */
import { z } from "zod";

const count = z.number().int().min(0);
const share = z.number().min(0).max(1);

/** A mean over images with its interval; null where no image gave a finite value. */
const MeanIntervalSchema = z.object({ mean: z.number(), lo: z.number(), hi: z.number(), n: count }).nullable();

/** Which way a metric is better. */
export const FAITHFULNESS_METRICS = {
  deletion: "lower",
  insertion: "higher",
  correlation: "higher",
  sensitivity: "lower",
} as const;

/** A metric's name. */
export type FaithfulnessMetric = keyof typeof FAITHFULNESS_METRICS;

const rank = z.number().int().min(1);

export const FaithfulnessReportSchema = z.object({
  /** Images measured: a seeded sample of the audited images (data indices, ascending). */
  images: count,
  indices: z.array(count),
  /** Deletion and insertion steps K: the curves have K + 1 points. */
  steps: z.number().int().min(1),
  /** Deletion's substrate: the low end of the input range. */
  deletionBaseline: z.literal("black"),
  /** Insertion's substrate: the image blurred by a Gaussian of `blurSigma` pixels. */
  insertionBaseline: z.literal("blur"),
  blurSigma: z.number().positive(),
  /** Faithfulness correlation: random subsets per image and pixels per subset. */
  subsets: z.number().int().min(1),
  subsetSize: z.number().int().min(1),
  /** Max-sensitivity: perturbations per image and the L-infinity radius, in input units. */
  sensitivitySamples: z.number().int().min(1),
  sensitivityRadius: z.number().min(0),
  interval: z.object({ kind: z.literal("percentile-bootstrap"), resamples: z.number().int().min(1), level: share }),
  /** The share of pixels substituted at each curve point. */
  fractions: z.array(share),
  /** Best first: by the mean of the four per-metric ranks, ties by deletion. */
  methods: z.array(z.object({
    /** A saliency method of pipeline/explain/saliency.ts. */
    method: z.string().min(1),
    rank,
    deletion: MeanIntervalSchema,
    insertion: MeanIntervalSchema,
    correlation: MeanIntervalSchema,
    sensitivity: MeanIntervalSchema,
    /** Rank per metric (1: best; equal means share a rank; methods without a value come last). */
    ranks: z.object({ deletion: rank, insertion: rank, correlation: rank, sensitivity: rank }),
    /** Mean probability of the explained class at each curve point. */
    deletionCurve: z.array(share),
    insertionCurve: z.array(share),
  })),
});

export type FaithfulnessReport = z.infer<typeof FaithfulnessReportSchema>;
