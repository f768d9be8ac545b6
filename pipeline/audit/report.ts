/**
 * Assembles `report.json` from the stage results, validates it against the schema and writes it,
 * never over an existing report unless forced.
 *
 * @example
 * ```ts
 * await assertReportWritable("audit-report", false); // before spending minutes on the audit
 * const report = buildReport(results, meta);
 * await writeReport("audit-report", report, { force: false });
 * ```
 */
import { join } from "node:path";
import { InputError } from "../input_error.ts";
import { writeAtomic } from "../model_folder.ts";
import { confidenceOf, marginOf } from "./evaluate.ts";
import { type AuditReport, AuditReportSchema, REPORT_SCHEMA_VERSION } from "./report_schema.ts";
import type { AuditResults } from "./run_audit.ts";

/** Everything in the report that does not come from the stages. */
export type ReportMeta = Pick<AuditReport, "model" | "data" | "adapter" | "config">;

/** The report's file name inside the output folder. */
export const REPORT_FILE = "report.json";

/** Builds the report object (timings get a total); `createdAt` is now. */
export function buildReport(
  results: AuditResults,
  stages: Pick<AuditReport, "explanations" | "bias">,
  meta: ReportMeta,
  totalSeconds: number,
): AuditReport {
  const { evaluation, robustness } = results;
  const minEpsilons = new Map(robustness.minEpsilon?.values.map((v) => [v.index, v.epsilon]) ?? []);
  const m = robustness.minEpsilon;
  return {
    schemaVersion: REPORT_SCHEMA_VERSION,
    createdAt: new Date().toISOString(),
    ...meta,
    timings: { ...results.timings, total: totalSeconds },
    accuracy: {
      count: evaluation.count,
      top1: evaluation.top1,
      top5: evaluation.top5,
      rectifiedTop1: results.rectifiedTop1,
      meanConfidence: evaluation.meanConfidence,
      ece: evaluation.ece,
      calibration: evaluation.calibration,
      perClass: evaluation.perClass,
      confusion: evaluation.confusion,
    },
    mistakes: {
      count: results.mistakes.counts.total,
      lowMarginThreshold: meta.config.lowMargin,
      superclassDepth: meta.config.superclassDepth,
      counts: {
        labelInTop5: results.mistakes.counts.labelInTop5,
        sameSuperclass: results.mistakes.counts.sameSuperclass,
        lowMargin: results.mistakes.counts.lowMargin,
        unexplained: results.mistakes.counts.unexplained,
      },
      items: results.mistakes.items,
    },
    images: results.predictions.map((p) => ({
      index: p.index,
      label: p.label,
      top: p.top,
      probs: p.probs,
      margin: marginOf(p),
      confidence: confidenceOf(p),
      minEpsilon: minEpsilons.get(p.index) ?? null,
    })),
    robustness: {
      attack: robustness.attack,
      attacked: robustness.attacked,
      curve: robustness.curve,
      fgsm: robustness.fgsm,
      pgd: robustness.pgd,
      zeroGradients: robustness.zeroGradients,
      zeroGradientShare: robustness.zeroGradientShare,
      minEpsilon: m
        ? { attack: m.attack, resolution: m.resolution, flipped: m.flipped, notFlipped: m.notFlipped, median: m.median }
        : null,
      warnings: robustness.warnings,
    },
    ...stages,
    review: null,
  };
}

/** Throws an InputError when `dir` already holds a report and `force` is not set. */
export async function assertReportWritable(dir: string, force: boolean): Promise<void> {
  const path = join(dir, REPORT_FILE);
  if (force) return;
  try {
    await Deno.stat(path);
  } catch (e) {
    // Not there, or `dir` is not a folder (the write reports that, naming --out).
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) return;
    throw e;
  }
  throw new InputError(`${path} exists: pass --force to overwrite it`);
}

/**
 * Validates the report against the schema (a failure is a bug, not bad input) and writes it
 * atomically to `dir/report.json`, creating `dir`. Returns the path written.
 */
export async function writeReport(dir: string, report: AuditReport, options: { force: boolean }): Promise<string> {
  const parsed = AuditReportSchema.safeParse(report);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`report does not match its schema at ${issue.path.join(".")}: ${issue.message}`);
  }
  await assertReportWritable(dir, options.force);
  await Deno.mkdir(dir, { recursive: true });
  const path = join(dir, REPORT_FILE);
  await writeAtomic(path, new TextEncoder().encode(JSON.stringify(parsed.data, null, 1) + "\n"));
  return path;
}
