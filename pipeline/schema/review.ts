/**
 * The `review` part of report.json: what people judged on the review page (`deno task review`)
 * and the figures rectified by their judgments. Null until someone has judged an item.
 */
import { z } from "zod";
import { AssetPathSchema } from "./asset_path.ts";
import { AttackSchema } from "./attack.ts";

/** The three answers a person can give about a mistake or an adversarial example. */
export const JUDGMENTS = ["acceptable", "not acceptable", "label is wrong"] as const;

/** A human judgment of one item, as the review tool records it. */
export type Judgment = typeof JUDGMENTS[number];

/** Judgments by example index. */
export type Judgments = ReadonlyMap<number, Judgment>;

const count = z.number().int().min(0);
const share = z.number().min(0).max(1);

const JudgmentCounts = z.object({
  judged: count,
  acceptable: count,
  notAcceptable: count,
  labelWrong: count,
});

const interval = { lo: share, hi: share };
const JUDGMENT = z.enum(JUDGMENTS);
const KIND = z.enum(["mistake", "adversarial"]);

/** An arm's acceptance: judgments "acceptable" of all made in it. */
const Acceptance = z.object({ accepted: count, judgments: count });

/**
 * The human study's statistics (pipeline/review/summary.ts): per item its reviewers' answers and
 * majority; agreement per kind and arm; the extrapolated human-rectified top-1, the human-judged
 * fooling rate, the human-rectified robust accuracy per epsilon, each with a 95% interval; and the
 * explanation effect per item kind.
 */
export const StudyFiguresSchema = z.object({
  /** "random": the items are the audit's seeded study sample; "shown": the report's most confident mistakes (not random). */
  sample: z.enum(["random", "shown"]),
  perItem: count,
  /** Whether the label was shown: always, never, or randomised per (item, reviewer). */
  label: z.enum(["shown", "hidden", "both"]),
  reviewers: z.array(z.object({ id: z.string(), name: z.string(), assigned: count, judged: count })),
  items: z.array(z.object({
    item: z.string(),
    kind: KIND,
    stratum: z.string(),
    weight: z.number().positive(),
    acceptable: count,
    notAcceptable: count,
    labelWrong: count,
    /** The answer of more than half the item's reviewers; null on no majority. */
    majority: JUDGMENT.nullable(),
  })),
  /** Krippendorff's alpha (nominal) over items with two answers or more; null when it says nothing. */
  agreement: z.array(
    z.object({ kind: KIND, arm: z.string(), items: count, answers: count, alpha: z.number().nullable() }),
  ),
  /**
   * Top-1 with the mistakes whose majority accepts the answer or finds the label wrong counted right,
   * extrapolated to all mistakes from the weighted sample (Wilson interval at the effective sample size).
   */
  humanTop1: z.object({
    estimate: share,
    ...interval,
    forgivenShare: z.object({ estimate: share, ...interval }),
    judgedItems: count,
    mistakes: count,
    noMajority: count,
  }).nullable(),
  /** Share of adversarial examples whose majority finds the new answer not acceptable. */
  fooling: z.object({ rate: share, ...interval, judgedItems: count, noMajority: count }).nullable(),
  /** Robust accuracy with the flips people accept counted right, at each swept epsilon. */
  robustAccuracy: z.array(
    z.object({ epsilon: z.number().min(0), accuracy: share, humanRectified: share, ...interval }),
  ),
  /** Per kind: acceptance with and without the explanation, their difference (Newcombe), Fisher's two-sided p. */
  explanationEffect: z.array(z.object({
    kind: KIND,
    withExplanation: Acceptance,
    withoutExplanation: Acceptance,
    difference: z.number().min(-1).max(1).nullable(),
    lo: z.number().min(-1).max(1).nullable(),
    hi: z.number().min(-1).max(1).nullable(),
    p: share.nullable(),
    verdict: z.string(),
  })),
});

export type StudyFigures = z.infer<typeof StudyFiguresSchema>;

export const ReviewSummarySchema = z.object({
  /** Lines of judgments.jsonl read, and those skipped as malformed. */
  lines: count,
  malformedLines: count,
  mistakes: JudgmentCounts,
  adversarial: JudgmentCounts,
  /**
   * Top-1 with the judged mistakes people accept counted right and those whose label they find wrong
   * left out; unjudged mistakes count wrong: a lower bound until all are judged.
   */
  rectifiedTop1: share,
  /** Share of the judged adversarial examples whose new answer people judged not acceptable: a fooling rate. */
  rectifiedRobustness: share.nullable(),
  /** Share of judgments "acceptable", with and without the explanation, mistakes and adversarial examples pooled. */
  agreement: z.object({ withExplanation: share.nullable(), withoutExplanation: share.nullable() }),
  /** The study design's statistics. Optional: added later. */
  study: StudyFiguresSchema.optional(),
});

export type ReviewSummary = z.infer<typeof ReviewSummarySchema>;

/**
 * The taxonomy category a mistake is sampled in, for a study stratified by category: the first of
 * another object in the image (ReaL), same superclass, label in the top-5, low margin, and none of
 * these. The audit's counts overlap (a mistake can be several); strata must not, hence the order.
 *
 * @example
 * ```ts
 * mistakeStratum({ labelInTop5: true, sameSuperclass: false, lowMargin: true }); // "labelInTop5"
 * ```
 */
export function mistakeStratum(
  item: { labelInTop5: boolean; sameSuperclass: boolean; lowMargin: boolean; otherObject?: boolean },
): MistakeStratum {
  if (item.otherObject) return "otherObject";
  if (item.sameSuperclass) return "sameSuperclass";
  if (item.labelInTop5) return "labelInTop5";
  if (item.lowMargin) return "lowMargin";
  return "unexplained";
}

/** The strata of mistakes, in mistakeStratum's order. */
export const MISTAKE_STRATA = ["otherObject", "sameSuperclass", "labelInTop5", "lowMargin", "unexplained"] as const;

/** A mistake's stratum. */
export type MistakeStratum = typeof MISTAKE_STRATA[number];

const StudyPictureSchema = z.object({
  index: count,
  label: count,
  /** The model's answer on `image`. */
  predicted: count,
  confidence: share,
  image: AssetPathSchema,
  saliency: AssetPathSchema,
});

/**
 * The audit's sample for a human study (report.json `study`): a seeded random sample of the
 * mistakes within each taxonomy stratum and of the adversarial examples, each with its pictures,
 * and the population each was drawn from, so that judgments of the sample extrapolate.
 */
export const StudySampleSchema = z.object({
  seed: z.number().int(),
  mistakes: z.object({
    /** Mistakes per stratum in the whole audit. */
    population: z.partialRecord(z.enum(MISTAKE_STRATA), count),
    items: z.array(StudyPictureSchema.extend({ stratum: z.enum(MISTAKE_STRATA) })),
  }),
  adversarial: z.object({
    /** The attack's flips in the sweep (each at its smallest flipping epsilon): the population sampled. */
    population: count,
    attack: AttackSchema,
    items: z.array(StudyPictureSchema.extend({ epsilon: z.number().positive() })),
  }),
});

export type StudySample = z.infer<typeof StudySampleSchema>;
