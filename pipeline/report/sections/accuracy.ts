/**
 * The accuracy section: top-1 and top-5, per-class accuracy, the reliability diagram and the
 * confusion matrix. With many classes: the most confused pairs (label, prediction, their
 * hierarchy distance) instead of the full matrix, a heatmap of only the most confused classes up
 * to HEATMAP_CLASSES classes and none beyond, and a per-class table one can sort and filter.
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
import { type SafeHtml, safeHtml } from "../safe_html.ts";
import { SORTABLE_SCRIPT } from "../sortable.ts";
import { className, type Section } from "./section.ts";

/** Up to this many classes the heatmap shows them all; beyond, only this many, the most confused. */
const CONFUSION_CLASSES = 30;
/** Beyond this many classes no heatmap is drawn: the most confused pairs stand for it. */
const HEATMAP_CLASSES = 100;
/** The most confused pairs listed, at most. */
const CONFUSED_PAIRS = 30;

/** The classes the heatmap shows: all, or the most confused (off-diagonal row + column sums). */
function confusedClasses(confusion: number[][]): number[] {
  const all = confusion.map((_, i) => i);
  if (all.length <= CONFUSION_CLASSES) return all;
  const off = all.map((i) => confusion.reduce((s, row, j) => s + (i === j ? 0 : row[i] + confusion[i][j]), 0));
  return all.sort((a, b) => off[b] - off[a] || a - b).slice(0, CONFUSION_CLASSES).sort((a, b) => a - b);
}

/** A label and a prediction it was confused with, `count` times. */
interface ConfusedPair {
  label: number;
  predicted: number;
  count: number;
}

/** The off-diagonal cells with the most images, most first (ties: by label, then prediction). */
function confusedPairs(confusion: number[][]): ConfusedPair[] {
  const pairs: ConfusedPair[] = [];
  confusion.forEach((row, label) =>
    row.forEach((count, predicted) => {
      if (count > 0 && label !== predicted) pairs.push({ label, predicted, count });
    })
  );
  return pairs.sort((a, b) => b.count - a.count || a.label - b.label || a.predicted - b.predicted)
    .slice(0, CONFUSED_PAIRS);
}

function confusedPairsTable(report: AuditReport): SafeHtml {
  const { confusion } = report.accuracy;
  // Every mistake carries its label-to-prediction distance: any one of a pair names the pair's.
  const distance = new Map(report.mistakes.items.map((m) => [`${m.label} ${m.predicted}`, m.distance]));
  const pairs = confusedPairs(confusion);
  const rows = pairs.map((p) => {
    const images = confusion[p.label].reduce((s, v) => s + v, 0);
    return [
      safeHtml`${className(report, p.label)} <span class="muted">#${p.label}</span>`,
      safeHtml`${className(report, p.predicted)} <span class="muted">#${p.predicted}</span>`,
      String(p.count),
      pct(p.count / images),
      String(distance.get(`${p.label} ${p.predicted}`) ?? "–"),
    ];
  });
  return safeHtml`${
    table(
      [
        { title: "label" },
        { title: "predicted as" },
        { title: "images", numeric: true },
        { title: "share of label's images", numeric: true },
        { title: "hierarchy distance", numeric: true },
      ],
      rows,
      { id: "confused-pairs", keys: pairs.map((p) => `${p.label}-${p.predicted}`) },
    )
  }<p class="muted">The ${pairs.length} label–prediction pairs with the most images. Hierarchy distance: edges on the
path from label to prediction through their lowest common ancestor in the hierarchy <code>${report.config.hierarchy}</code>.</p>`;
}

/** The heatmap (of the most confused classes when there are more than fit), or why there is none. */
function confusionFigure(report: AuditReport): SafeHtml {
  const { confusion } = report.accuracy;
  if (confusion.length > HEATMAP_CLASSES) {
    return safeHtml`<p class="muted">No confusion matrix drawn for ${confusion.length} classes: the most confused pairs stand for
it; report.json holds the whole matrix (<code>accuracy.confusion</code>).</p>`;
  }
  const shown = confusedClasses(confusion);
  const partial = shown.length < confusion.length
    ? ` Showing the ${shown.length} most confused of ${confusion.length} classes.`
    : "";
  return figure(
    confusionSvg(confusion, report.model.classes, shown),
    `Rows: true label; columns: prediction; cells: image counts.${partial}`,
  );
}

/** The per-class table; `sortable`: sorted and filtered in the browser (see sortable.ts). */
function perClass(report: AuditReport, sortable: boolean): SafeHtml {
  const classes = report.accuracy.perClass;
  const rows = classes.map((c) => [
    String(c.label),
    c.name,
    String(c.count),
    String(c.correct),
    safeHtml`${pct(c.accuracy)}<span class="bar" style="width:${Math.round(100 * (c.accuracy ?? 0))}%"></span>`,
  ]);
  return table(
    [
      { title: "#", numeric: true },
      { title: "class", cell: "name" },
      { title: "images", numeric: true },
      { title: "correct", numeric: true },
      { title: "accuracy", numeric: true, cell: "accuracy" },
    ],
    rows,
    { id: "per-class", keys: classes.map((c) => c.label), sortable: sortable ? "name" : undefined },
  );
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
  const calibration = safeHtml`<div class="block"><h3>Calibration</h3>${
    figure(reliabilitySvg(a.calibration), "Accuracy per confidence bin; the dashed diagonal is perfect calibration.")
  }</div>`;
  const headline = safeHtml`<p>Top-1 <strong>${pct(a.top1)}</strong>, top-5 <strong>${
    pct(a.top5)
  }</strong>, mean confidence ${pct(a.meanConfidence)}, expected calibration error ${fixed(a.ece)}.</p>`;
  const confusion = safeHtml`<div class="block"><h3>Confusion matrix</h3>${confusionFigure(report)}</div>`;
  if (a.confusion.length <= CONFUSION_CLASSES) {
    return {
      id: "accuracy",
      title: "Accuracy",
      body: safeHtml`${headline}
<div class="cols">
<div class="block"><h3>Per class</h3>${perClass(report, false)}</div>
${calibration}
</div>
${confusion}`,
    };
  }
  return {
    id: "accuracy",
    title: "Accuracy",
    body: safeHtml`${headline}
<div class="block"><h3>Most confused pairs</h3>${confusedPairsTable(report)}</div>
<div class="block"><h3>Per class</h3><p class="muted">${a.perClass.length} classes; where JavaScript runs, a click on a heading sorts them and a search box filters them by name.</p>
<div class="scroll">${perClass(report, true)}</div></div>
<div class="cols">${calibration}</div>
${confusion}`,
    script: SORTABLE_SCRIPT,
  };
}
