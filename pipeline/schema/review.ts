/**
 * The `review` part of report.json: what people judged on the review page (`deno task review`)
 * and the figures rectified by their judgments. Null until someone has judged an item.
 */
import { z } from "zod";

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

export const ReviewSummarySchema = z.object({
  /** Lines of judgments.jsonl read, and those skipped as malformed. */
  lines: count,
  malformedLines: count,
  mistakes: JudgmentCounts,
  adversarial: JudgmentCounts,
  /** Top-1 with the mistakes people judged acceptable (or whose label is wrong) counted right. */
  rectifiedTop1: share,
  /** Share of the judged adversarial examples whose new answer people judged not acceptable. */
  rectifiedRobustness: share.nullable(),
  /** Share of judgments "acceptable", among items shown with and without the explanation. */
  agreement: z.object({ withExplanation: share.nullable(), withoutExplanation: share.nullable() }),
});

export type ReviewSummary = z.infer<typeof ReviewSummarySchema>;
