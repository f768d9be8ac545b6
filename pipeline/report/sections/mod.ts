/**
 * The sections of the HTML report, one module each, from an audit report to safe HTML (and, where a
 * section needs one, its script). Images come as pictures from `embed`, so a section never touches
 * the file system.
 *
 * @example
 * ```ts
 * import type { AuditReport } from "../../schema/report.ts";
 * import { safeHtml } from "../safe_html.ts";
 * declare const report: AuditReport;
 * import type { Picture } from "../markup.ts";
 * declare const pictures: Map<string, Picture>;
 * const sections = reportSections(report, (path) => pictures.get(path)!);
 * const nav = safeHtml`<nav>${sections.map((s) => safeHtml`<a href="#${s.id}">${s.title}</a>`)}</nav>`;
 * ```
 */
import type { AuditReport } from "../../schema/report.ts";
import { accuracySection } from "./accuracy.ts";
import { biasSection } from "./bias.ts";
import { faithfulnessSection } from "./faithfulness.ts";
import { hierarchySection } from "./hierarchy.ts";
import { mistakesSection } from "./mistakes.ts";
import { robustnessSection } from "./robustness.ts";
import { sanitySection } from "./sanity.ts";
import type { Embed, Section } from "./section.ts";
import { summarySection } from "./summary.ts";

export type { Embed, Section } from "./section.ts";

/**
 * The report's sections in page order, summary first; those without data (no explanations, no bias
 * stage, no hierarchy figures) are left out.
 *
 * @example
 * ```ts
 * import type { AuditReport } from "../../schema/report.ts";
 * declare const report: AuditReport;
 * declare const embed: Embed;
 * const ids = reportSections(report, embed).map((s) => s.id); // ["summary", "accuracy", ...]
 * ```
 */
export function reportSections(report: AuditReport, embed: Embed): Section[] {
  const sanity = report.explanations?.sanity ?? null;
  return [
    summarySection(report),
    accuracySection(report),
    mistakesSection(report, embed),
    ...(report.hierarchy ? [hierarchySection(report, report.hierarchy)] : []),
    robustnessSection(report, embed),
    ...(sanity ? [sanitySection(sanity, embed)] : []),
    ...(report.faithfulness ? [faithfulnessSection(report.faithfulness)] : []),
    ...(report.bias ? [biasSection(report.bias, embed)] : []),
  ];
}
