/**
 * The hierarchy section: how far apart in the class tree the mistakes are. The share of mistakes
 * within each depth (label and prediction share their ancestor there), the mean severity of the
 * mistakes and of the adversarial flips (the height of the lowest common ancestor, counted up from
 * the label), and the classes whose mistakes are the most severe.
 *
 * @example
 * ```ts
 * import type { AuditReport } from "../../schema/report.ts";
 * declare const report: AuditReport;
 * const section = report.hierarchy ? hierarchySection(report, report.hierarchy) : null; // id "hierarchy"
 * ```
 */
import type { AuditReport } from "../../schema/report.ts";
import { fixed, pct, stat, table } from "../markup.ts";
import { joinHtml, type SafeHtml, safeHtml } from "../safe_html.ts";
import { className, type Section } from "./section.ts";

/** The report's hierarchy figures. */
export type HierarchyFigures = NonNullable<AuditReport["hierarchy"]>;

/** The worst classes listed, by mean severity of their mistakes. */
const WORST_CLASSES = 20;

function depthTable(figures: HierarchyFigures): SafeHtml {
  const rows = figures.depths.map((d) => [
    String(d.depth),
    joinHtml(d.examples.map((e) => safeHtml`${e.name} <span class="muted">(${e.mistakes})</span>`), ", "),
    String(d.mistakesWithin),
    pct(d.share),
  ]);
  return table(
    [
      { title: "depth", numeric: true },
      { title: "shared ancestors, most mistakes first" },
      { title: "mistakes within", numeric: true },
      { title: "share of mistakes", numeric: true },
    ],
    rows,
    { id: "hierarchy-depths", keys: figures.depths.map((d) => d.depth) },
  );
}

function worstClasses(report: AuditReport, figures: HierarchyFigures): SafeHtml {
  const worst = [...figures.severity.perClass]
    .sort((a, b) => b.mean - a.mean || b.mistakes - a.mistakes || a.label - b.label)
    .slice(0, WORST_CLASSES);
  return table(
    [{ title: "class" }, { title: "mistakes", numeric: true }, { title: "mean severity", numeric: true }],
    worst.map((c) => [className(report, c.label), String(c.mistakes), fixed(c.mean, 2)]),
    { id: "hierarchy-worst", keys: worst.map((c) => c.label) },
  );
}

/**
 * The hierarchy section of a report that has hierarchy figures.
 *
 * @example
 * ```ts
 * import type { AuditReport } from "../../schema/report.ts";
 * declare const report: AuditReport, figures: HierarchyFigures;
 * const { body } = hierarchySection(report, figures);
 * ```
 */
export function hierarchySection(report: AuditReport, figures: HierarchyFigures): Section {
  const { severity, adversarial } = figures;
  const flips = adversarial
    ? stat(
      "mean severity of flips",
      fixed(adversarial.meanSeverity, 2),
      `${adversarial.flips} ${adversarial.attack.toUpperCase()} flips up to epsilon ${adversarial.epsilon}`,
    )
    : stat("mean severity of flips", "–", "no flips");
  const histogram = severity.histogram.flatMap((count, h) => (count > 0 ? [[String(h), String(count)]] : []));
  const body = safeHtml`<p>Class tree: ${figures.source}${
    figures.rule && safeHtml` <span class="muted">(${figures.rule})</span>`
  }. Severity of a mistake: the height of the lowest common ancestor of label and prediction, in edges up from the label (Bertinetto et al. 2020); 1 for siblings.</p>
<div class="stats">
${stat("mean severity of mistakes", fixed(severity.mean, 2), `${severity.mistakes} mistakes`)}
${flips}
</div>
<div class="cols">
<div class="block"><h3>Mistakes within each depth</h3>${depthTable(figures)}
<p class="muted">A mistake is within depth d when label and prediction share their ancestor at depth d (the root is depth 0).</p></div>
<div class="block"><h3>Severity of mistakes</h3>${
    table([{ title: "severity", numeric: true }, { title: "mistakes", numeric: true }], histogram, {
      id: "hierarchy-severity",
    })
  }</div>
<div class="block"><h3>Most severe classes</h3>${worstClasses(report, figures)}
<p class="muted">The ${WORST_CLASSES} label classes whose mistakes are the most severe on average.</p></div>
</div>`;
  return { id: "hierarchy", title: "Hierarchy", body };
}
