/**
 * The human review door (the paper's human study, as a tool): the report's explained mistakes and
 * adversarial examples as items, a random plan of which are shown with their explanation, the
 * judgments people make (judgments.jsonl), the figures they rectify (report.json's `review`), the
 * review page, and the server that ties them together.
 *
 * @example
 * ```ts
 * const server = await startReviewServer({ dir: "audit-report", port: 8000 });
 * for (const m of server.malformed) console.error(`judgments.jsonl:${m.line}: ${m.reason}`);
 * console.log(server.url);
 * await server.finished;
 * ```
 */
export { JUDGMENTS } from "../schema/review.ts";
export {
  appendJudgment,
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
export { renderReviewPage } from "./page.ts";
export {
  loadOrCreatePlan,
  makePlan,
  PLAN_FILE,
  type ReviewItem,
  reviewItems,
  type ReviewPlan,
  ReviewPlanSchema,
} from "./plan.ts";
export { type ReviewSummary, ReviewSummarySchema } from "../schema/review.ts";
export { type ReviewServer, type ReviewServerOptions, startReviewServer } from "./server.ts";
export { reviewSummary } from "./summary.ts";
