/**
 * What every section of the HTML report is made of: its anchor, its navigation title and its body,
 * plus what sections share: how an asset becomes a picture on the page, and how a class is named.
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
import type { Picture } from "../markup.ts";
import type { SafeHtml } from "../safe_html.ts";

/**
 * A report-relative asset path to the picture the page shows: a data URI of its bytes, or (for
 * assets that grow with the class count) the path itself, a file beside the page.
 */
export type Embed = (path: string) => Picture;

/** One section of the page: its anchor, its title in the navigation, its HTML, and its script. */
export interface Section {
  id: string;
  title: string;
  body: SafeHtml;
  /**
   * JavaScript the section's markup needs (this program's own code, never text from a report),
   * run once the page is parsed. The page works without it: a script only adds to what is shown.
   */
  script?: string;
}

/** The report's explanations, where the audit made them. */
export type Explanations = NonNullable<AuditReport["explanations"]>;

/** A class's name; "class N" when the model has no such class. */
export function className(report: AuditReport, label: number): string {
  return report.model.classes[label] ?? `class ${label}`;
}
