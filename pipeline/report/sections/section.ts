/**
 * What every section of the HTML report is made of: its anchor, its navigation title and its body,
 * plus what sections share: how an image becomes a data URI, and how a class is named.
 *
 * @example
 * ```ts
 * import type { AuditReport } from "../../schema/report.ts";
 * import { safeHtml } from "../safe_html.ts";
 * declare const report: AuditReport;
 * const section: Section = { id: "notes", title: "Notes", body: safeHtml`<p>${className(report, 3)}</p>` };
 * ```
 */
import type { AuditReport } from "../../schema/report.ts";
import type { SafeHtml } from "../safe_html.ts";

/** A report-relative asset path to a data URI of its bytes. */
export type Embed = (path: string) => string;

/** One section of the page: its anchor, its title in the navigation, and its HTML. */
export interface Section {
  id: string;
  title: string;
  body: SafeHtml;
}

/** The report's explanations, where the audit made them. */
export type Explanations = NonNullable<AuditReport["explanations"]>;

/** A class's name; "class N" when the model has no such class. */
export function className(report: AuditReport, label: number): string {
  return report.model.classes[label] ?? `class ${label}`;
}
