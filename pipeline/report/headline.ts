/**
 * The report's headline: the paper's finding that top-1 underestimates a classifier, in four
 * figures for the same model and images: top-1; ReaL top-1 (against the --real-labels file's
 * valid labels, Beyer et al. 2020); hierarchy-rectified top-1 (same-superclass mistakes counted
 * right); human-rectified top-1 (the mistakes people accepted counted right, those whose label they
 * judged wrong left out; the study's estimate with its interval when the judged mistakes are the
 * audit's random study sample). The HTML summary and the terminal summary both show them.
 *
 * @example
 * ```ts
 * import type { AuditReport } from "../schema/report.ts";
 * declare const report: AuditReport;
 * console.log(headlineFigures(report).map((f) => `${f.name} ${headlineValue(f)}`).join(", "));
 * // "top-1 76.2%, ReaL top-1 83.0%, hierarchy-rectified top-1 80.4%, human-rectified top-1 ≥ 76.9%"
 * ```
 */
import type { AuditReport } from "../schema/report.ts";
import { pct } from "./markup.ts";

/** One headline figure. */
export interface HeadlineFigure {
  name: string;
  /** Null where the audit has nothing to compute it from (no real labels, no judgments). */
  value: number | null;
  /** Judging more mistakes can only raise it: the figure is a lower bound. */
  lowerBound: boolean;
  /** What the figure counts, in words. */
  note: string;
}

/** The four figures, in the paper's order. */
export function headlineFigures(report: AuditReport): HeadlineFigure[] {
  const { accuracy: a, mistakes: m, config } = report;
  const real = a.real ?? null;
  return [
    { name: "top-1", value: a.top1, lowerBound: false, note: `${a.count} images, one label each` },
    {
      name: "ReaL top-1",
      value: real?.top1 ?? null,
      lowerBound: false,
      note: real
        ? `${real.counted} images with valid labels (${real.excluded} without, left out); ReaL top-5 ${pct(real.top5)}`
        : "no --real-labels file",
    },
    {
      name: "hierarchy-rectified top-1",
      value: a.rectifiedTop1,
      lowerBound: false,
      note: config.hierarchy === "flat"
        ? "flat hierarchy: no superclass to forgive, equals top-1"
        : `same superclass counted right (depth ${m.superclassDepth} of ${config.hierarchy})`,
    },
    humanFigure(report),
  ];
}

/**
 * The human-rectified top-1: the study's estimate (with its interval) when its items are the
 * audit's random study sample; else the judged-only figure, a lower bound until every mistake is judged.
 */
function humanFigure(report: AuditReport): HeadlineFigure {
  const { mistakes: m, review } = report;
  const estimate = review?.study?.sample === "random" ? review.study.humanTop1 : null;
  if (estimate) {
    return {
      name: "human-rectified top-1",
      value: estimate.estimate,
      lowerBound: false,
      note: `estimate from ${estimate.judgedItems} of ${m.count} mistakes judged (a random sample): 95% ${
        pct(estimate.lo)
      } – ${pct(estimate.hi)}`,
    };
  }
  // Unjudged mistakes count wrong in the human figure; accepting one, or leaving out an image whose
  // label is wrong, only raises it: until every mistake is judged it bounds the full figure below.
  const judged = review?.mistakes.judged ?? 0;
  return {
    name: "human-rectified top-1",
    value: review && judged > 0 ? review.rectifiedTop1 : null,
    lowerBound: judged > 0 && judged < m.count,
    note: judged === 0
      ? "no mistake judged yet (deno task review)"
      : judged < m.count
      ? `${judged} of ${m.count} mistakes judged, the others counted wrong: a lower bound`
      : `all ${m.count} mistakes judged`,
  };
}

/** A figure as shown: "83.0%", "≥ 76.9%" for a lower bound, "—" where there is none. */
export function headlineValue(figure: HeadlineFigure): string {
  if (figure.value === null) return "—";
  return `${figure.lowerBound ? "≥ " : ""}${pct(figure.value)}`;
}
