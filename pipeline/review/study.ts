/**
 * A report folder's study, opened: the report, its items, the reviewers (made at the first start,
 * with their tokens, in review-reviewers.json), the plan (review-plan.json) and the judgments read;
 * and the rewrite of report.json and index.html with the judgments' summary.
 *
 * @example
 * ```ts
 * const study = await openStudy("audit-report", { reviewers: null, perItem: 3, label: "shown" });
 * await writeReviewedReport(study);
 * ```
 */
import { join } from "node:path";
import type { AuditReport } from "../schema/report.ts";
import { InputError } from "../io/input_error.ts";
import { claimOutFolder, type OutFolder } from "../io/out_folder.ts";
import { writeReportHtml } from "../report/html.ts";
import { readReport, REPORT_FILE, writeReport } from "../report/report_file.ts";
import type { ReviewSummary } from "../schema/review.ts";
import { type JudgmentLog, readJudgments } from "./judgments.ts";
import { type LABEL_CHOICES, PLAN_FILE, type ReviewItem, type ReviewPlan, studyPlan } from "./plan.ts";
import { newReviewers, readReviewers, type Reviewer, REVIEWERS_FILE, writeReviewers } from "./reviewers.ts";
import { reviewSummary } from "./summary.ts";

/** How a study is first set up; a later start must ask for the same reviewers, or none. */
export interface StudyOptions {
  /** The reviewers' names; null: those of the first start (one, "r1", when there was none). */
  reviewers: readonly string[] | null;
  /** Reviewers per item (at most the number of reviewers). */
  perItem: number;
  label: typeof LABEL_CHOICES[number];
}

/** The study's state: the report as last written, its items, reviewers and plan, the judgments read. */
export interface Study {
  dir: string;
  report: AuditReport;
  items: Map<string, ReviewItem>;
  reviewers: Reviewer[];
  plan: ReviewPlan;
  log: JudgmentLog;
}

/** The folder's reviewers: those of its first start, or new ones made now. */
async function studyReviewers(dir: string, names: readonly string[] | null): Promise<Reviewer[]> {
  const existing = await readReviewers(dir);
  if (existing === null) {
    const reviewers = newReviewers(names ?? ["r1"]);
    await writeReviewers(dir, reviewers);
    return reviewers;
  }
  if (names !== null && names.join("\n") !== existing.map((r) => r.name).join("\n")) {
    throw new InputError(
      `${join(dir, REVIEWERS_FILE)}: the study's reviewers are ${
        existing.map((r) => r.name).join(", ")
      }; they are fixed at its first start (remove ${REVIEWERS_FILE} and ${PLAN_FILE} to start anew)`,
    );
  }
  return existing;
}

/**
 * Opens the folder's study, making its reviewers and plan at the first start. A missing or invalid
 * report, one without explanations, a malformed plan or reviewers file, or reviewers other than the
 * first start's are InputErrors.
 *
 * @example
 * ```ts
 * const study = await openStudy("audit-report", { reviewers: ["ann", "bo", "cy"], perItem: 3, label: "both" });
 * console.log(study.plan.assignments.length, "assignments");
 * ```
 */
export async function openStudy(dir: string, options: StudyOptions): Promise<Study> {
  const report = await readReport(dir);
  if (report.explanations === null) {
    throw new InputError(`${join(dir, "report.json")}: nothing to review: the audit ran with --saliency none`);
  }
  const reviewers = await studyReviewers(dir, options.reviewers);
  const { items, plan } = await studyPlan(dir, report, reviewers, { perItem: options.perItem, label: options.label });
  if (plan.reviewers.map((r) => r.id).join() !== reviewers.map((r) => r.id).join()) {
    throw new InputError(
      `${join(dir, PLAN_FILE)}: made for other reviewers than ${REVIEWERS_FILE} (remove both to start anew)`,
    );
  }
  const log = await readJudgments(dir, new Set(items.map((item) => item.id)));
  return { dir, report, items: new Map(items.map((item) => [item.id, item])), reviewers, plan, log };
}

/** Puts the judgments' summary into the report (null before any line) and writes report.json and index.html. */
export async function writeReviewedReport(study: Study): Promise<ReviewSummary> {
  const summary = reviewSummary(study.report, study.plan, study.log);
  study.report = { ...study.report, review: study.log.lines > 0 ? summary : null };
  await writeReport(study.dir, study.report, { force: true });
  await writeReportHtml(study.dir, study.report);
  return summary;
}

/** Reads judgments.jsonl again into the study. */
export async function rereadJudgments(study: Study): Promise<void> {
  study.log = await readJudgments(study.dir, new Set(study.items.keys()));
}

/**
 * Locks the report folder for `command` (the review writes into a report folder, whoever made it:
 * locked, not marked), so no audit or second review writes into it meanwhile.
 *
 * @example
 * ```ts
 * using folder = await claimStudyFolder("audit-report", "review");
 * ```
 */
export async function claimStudyFolder(dir: string, command: string): Promise<OutFolder> {
  const folder = await claimOutFolder(dir, {
    flag: "--report",
    command,
    force: false,
    create: false,
    marker: false,
    tempFolders: [""],
  });
  if (folder === null) throw new InputError(`${join(dir, REPORT_FILE)}: no such file or folder`);
  return folder;
}
