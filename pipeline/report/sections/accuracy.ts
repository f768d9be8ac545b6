/**
 * The accuracy section: top-1 and top-5, per-class accuracy, the reliability diagram and the
 * confusion matrix (only the most confused classes when there are many).
 *
 * @example
 * ```ts
 * import type { AuditReport } from "../../schema/report.ts";
 * declare const report: AuditReport;
 * const { id, body } = accuracySection(report); // "accuracy"
 * ```
 */
import type { AuditReport } from "../../schema/report.ts";
import { figure, fixed, pct, table } from "../markup.ts";
import { confusionSvg, reliabilitySvg } from "../plots.ts";
import { safeHtml } from "../safe_html.ts";
import type { Section } from "./section.ts";

/** Beyond this many classes the confusion heatmap shows only the most confused ones. */
const CONFUSION_CLASSES = 30;

/** The classes the heatmap shows: all, or the most confused (off-diagonal row + column sums). */
function confusedClasses(confusion: number[][]): number[] {
  const all = confusion.map((_, i) => i);
  if (all.length <= CONFUSION_CLASSES) return all;
  const off = all.map((i) => confusion.reduce((s, row, j) => s + (i === j ? 0 : row[i] + confusion[i][j]), 0));
  return all.sort((a, b) => off[b] - off[a] || a - b).slice(0, CONFUSION_CLASSES).sort((a, b) => a - b);
}

/**
 * The accuracy section.
 *
 * @example
 * ```ts
 * import type { AuditReport } from "../../schema/report.ts";
 * import { safeHtml } from "../safe_html.ts";
 * declare const report: AuditReport;
 * const page = safeHtml`<section id="accuracy">${accuracySection(report).body}</section>`;
 * ```
 */
export function accuracySection(report: AuditReport): Section {
  const a = report.accuracy;
  const rows = a.perClass.map((c) => [
    String(c.label),
    c.name,
    String(c.count),
    String(c.correct),
    safeHtml`${pct(c.accuracy)}<span class="bar" style="width:${Math.round(100 * (c.accuracy ?? 0))}%"></span>`,
  ]);
  const perClass = table(
    [
      { title: "#", numeric: true },
      { title: "class", cell: "name" },
      { title: "images", numeric: true },
      { title: "correct", numeric: true },
      { title: "accuracy", numeric: true, cell: "accuracy" },
    ],
    rows,
    { id: "per-class", keys: a.perClass.map((c) => c.label) },
  );
  const shown = confusedClasses(a.confusion);
  const partial = shown.length < a.confusion.length
    ? ` Showing the ${shown.length} most confused of ${a.confusion.length} classes.`
    : "";
  return {
    id: "accuracy",
    title: "Accuracy",
    body: safeHtml`<p>Top-1 <strong>${pct(a.top1)}</strong>, top-5 <strong>${pct(a.top5)}</strong>, mean confidence ${
      pct(a.meanConfidence)
    }, expected calibration error ${fixed(a.ece)}.</p>
<div class="cols">
<div class="block"><h3>Per class</h3>${perClass}</div>
<div class="block"><h3>Calibration</h3>${
      figure(
        reliabilitySvg(a.calibration),
        "Accuracy per confidence bin; the dashed diagonal is perfect calibration.",
      )
    }</div>
</div>
<div class="block"><h3>Confusion matrix</h3>${
      figure(
        confusionSvg(a.confusion, report.model.classes, shown),
        `Rows: true label; columns: prediction; cells: image counts.${partial}`,
      )
    }</div>`,
  };
}
