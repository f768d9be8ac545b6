/**
 * The human review door (the paper's human studies, as a tool): the study's items (the audit's
 * random study sample, or the report's explained mistakes and adversarial examples), its reviewers
 * and their tokens, the plan of who judges what and how it is shown, the judgments (judgments.jsonl,
 * also as CSV), the statistics they give (report.json's `review`), the review page, and the server
 * that lets in only the study's reviewers.
 *
 * @example
 * ```ts
 * const server = await startReviewServer({ dir: "audit-report", port: 8000, reviewers: ["ann", "bo", "cy"] });
 * for (const r of server.reviewers) console.log(`${r.name}: ${r.url}`);
 * await server.finished;
 * ```
 */
export { JUDGMENTS } from "../schema/review.ts";
export { CSV_COLUMNS, judgmentsCsv, parseJudgmentsCsv } from "./csv.ts";
export { BODY_LIMIT } from "./guard.ts";
export {
  answerKey,
  appendJudgment,
  appendJudgments,
  itemId,
  ItemIdSchema,
  type ItemKind,
  ItemKindSchema,
  type JudgmentLog,
  type JudgmentRecord,
  JudgmentRecordSchema,
  JUDGMENTS_FILE,
  type MalformedLine,
  readJudgments,
} from "./judgments.ts";
export { renderReviewPage, type ReviewPage } from "./page.ts";
export {
  type Assignment,
  LABEL_CHOICES,
  loadOrCreatePlan,
  makePlan,
  PLAN_FILE,
  type ReviewItem,
  reviewItems,
  type ReviewPlan,
  ReviewPlanSchema,
  type StudyPopulation,
  studyPopulation,
} from "./plan.ts";
export { newReviewers, readReviewers, type Reviewer, reviewerOfToken, REVIEWERS_FILE } from "./reviewers.ts";
export { type ReviewSummary, ReviewSummarySchema, type StudyFigures } from "../schema/review.ts";
export { type ReviewServer, type ReviewServerOptions, startReviewServer } from "./server.ts";
export { fisherExact, krippendorffAlpha, newcombeDifference, stratifiedShare, wilson } from "./stats.ts";
export { claimStudyFolder, openStudy, rereadJudgments, type Study, writeReviewedReport } from "./study.ts";
export { armName, majority, reviewSummary } from "./summary.ts";
