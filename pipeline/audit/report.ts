/**
 * Assembles the report object from the stage results (report/report_file.ts validates and writes it).
 *
 * @example
 * ```ts
 * import type { AuditResults } from "./run_audit.ts";
 * declare const results: AuditResults, meta: ReportMeta;
 * const report = buildReport(results, { explanations: null, bias: null }, meta, 12.5);
 * console.log(report.accuracy.top1, report.timings.total);
 * ```
 */
import { confidenceOf, marginOf } from "./evaluate.ts";
import { type AuditReport, REPORT_SCHEMA_VERSION } from "../schema/report.ts";
import type { AuditResults } from "./run_audit.ts";
import { AUTOATTACK_STAGES } from "./robustness.ts";
import { flipSeverity } from "./severity.ts";

/** Everything in the report that does not come from the stages. */
export type ReportMeta = Pick<AuditReport, "model" | "data" | "adapter" | "config">;

/** Builds the report object (timings get a total); `createdAt` is now. */
export function buildReport(
  results: AuditResults,
  stages: Pick<AuditReport, "explanations" | "bias"> & Partial<Pick<AuditReport, "study" | "faithfulness">>,
  meta: ReportMeta,
  totalSeconds: number,
): AuditReport {
  const { evaluation, robustness } = results;
  const minEpsilons = new Map(robustness.minEpsilon?.values.map((v) => [v.index, v.epsilon]) ?? []);
  const m = robustness.minEpsilon;
  const deepFool = robustness.minimalNorm;
  const minimalNorms = new Map(deepFool?.values.map((v) => [v.index, v.epsilon]) ?? []);
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
      real: results.real,
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
        ...(results.mistakes.counts.otherObject === undefined
          ? {}
          : { otherObject: results.mistakes.counts.otherObject }),
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
      ...(deepFool ? { minimalNorm: minimalNorms.get(p.index) ?? null } : {}),
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
        ? {
          attack: m.attack,
          resolution: m.resolution,
          flipped: m.flipped,
          notFlipped: m.notFlipped,
          median: m.median,
          medianAll: m.medianAll,
        }
        : null,
      ...(deepFool ? { minimalNorm: (({ values: _, ...rest }) => rest)(deepFool) } : {}),
      curves: robustness.curves,
      ensemble: robustness.attack === "autoattack" ? [...AUTOATTACK_STAGES] : null,
      fgsmRaw: robustness.fgsmRaw,
      flags: robustness.flags,
      warnings: robustness.warnings,
    },
    ...stages,
    review: null,
    hierarchy: results.hierarchy && { ...results.hierarchy, adversarial: flipSeverity(robustness) },
  };
}
