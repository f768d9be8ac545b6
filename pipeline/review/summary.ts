/**
 * The figures people's judgments rectify (the paper's human study): top-1 with the mistakes they
 * accept counted right, the share of adversarial examples that really fool the model, and how
 * often they accept the model's answer with and without its explanation.
 *
 * @example
 * ```ts
 * import { readJudgments } from "./judgments.ts";
 * import { reviewItems } from "./plan.ts";
 * import type { AuditReport } from "../schema/report.ts";
 * declare const report: AuditReport; // read from audit-report/report.json
 * const log = await readJudgments("audit-report", new Set(reviewItems(report).map((item) => item.id)));
 * report.review = reviewSummary(report, log);
 * ```
 */
import type { AuditReport } from "../schema/report.ts";
import type { ItemKind, JudgmentLog, JudgmentRecord } from "./judgments.ts";
import type { ReviewSummary } from "../schema/review.ts";

type Counts = ReviewSummary["mistakes"];

function counts(judgments: readonly JudgmentRecord[], kind: ItemKind): Counts {
  const ofKind = judgments.filter((j) => j.kind === kind);
  const count = (judgment: JudgmentRecord["judgment"]) => ofKind.filter((j) => j.judgment === judgment).length;
  return {
    judged: ofKind.length,
    acceptable: count("acceptable"),
    notAcceptable: count("not acceptable"),
    labelWrong: count("label is wrong"),
  };
}

/** Share of "acceptable" among `judgments`; null for none. */
function acceptedShare(judgments: readonly JudgmentRecord[]): number | null {
  if (judgments.length === 0) return null;
  return judgments.filter((j) => j.judgment === "acceptable").length / judgments.length;
}

/**
 * The review summary of `report` from the judgments read (the last per item counts):
 * - rectifiedTop1 = (correct images + mistakes judged "acceptable") / (images - mistakes judged
 *   "label is wrong"), where correct images = round(top1 x images): an image whose label is wrong
 *   has no ground truth to be right or wrong against, so it leaves the count (as in the audit's
 *   `rectifiedTop1`); 0 for no images;
 * - rectifiedRobustness = share of the judged adversarial examples judged "not acceptable" (the
 *   attack fooled the model in a way a person would not accept); null when none is judged;
 * - agreement = share of "acceptable" among the judgments made with the explanation shown, and
 *   among those made without it; null where there are none.
 *
 * @example
 * ```ts
 * import type { AuditReport } from "../schema/report.ts";
 * declare const report: AuditReport;
 * const summary = reviewSummary(report, { judgments: new Map(), lines: 0, malformed: [] });
 * summary.rectifiedTop1 === report.accuracy.top1; // nothing judged yet (up to rounding)
 * ```
 */
export function reviewSummary(report: AuditReport, log: JudgmentLog): ReviewSummary {
  const judgments = [...log.judgments.values()];
  const mistakes = counts(judgments, "mistake");
  const adversarial = counts(judgments, "adversarial");
  const images = report.accuracy.count;
  const correct = Math.round(report.accuracy.top1 * images);
  return {
    lines: log.lines,
    malformedLines: log.malformed.length,
    mistakes,
    adversarial,
    rectifiedTop1: images - mistakes.labelWrong > 0
      ? (correct + mistakes.acceptable) / (images - mistakes.labelWrong)
      : 0,
    rectifiedRobustness: adversarial.judged > 0 ? adversarial.notAcceptable / adversarial.judged : null,
    agreement: {
      withExplanation: acceptedShare(judgments.filter((j) => j.explanationShown)),
      withoutExplanation: acceptedShare(judgments.filter((j) => !j.explanationShown)),
    },
  };
}
