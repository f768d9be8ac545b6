/**
 * The HTML report's door: `index.html` rendered from an audit report, self-contained (inline CSS,
 * SVG charts drawn with Observable Plot, images as data URIs, or beside it once they are many), its
 * charts, and the `safeHtml` template that escapes whatever the page shows.
 *
 * @example
 * ```ts
 * import { AuditReportSchema } from "../schema/report.ts";
 * const report = AuditReportSchema.parse(JSON.parse(await Deno.readTextFile("audit-report/report.json")));
 * const path = await writeReportHtml("audit-report", report);
 * ```
 */
export { renderReportHtml, REPORT_HTML_FILE, writeReportHtml } from "./html.ts";
export {
  type CalibrationBin,
  confusionSvg,
  minEpsilonHistogramSvg,
  type NamedCurve,
  reliabilitySvg,
  robustnessSvg,
  type SanitySeries,
  sanitySvg,
} from "./plots.ts";
export { className } from "./sections/section.ts";
export { type HtmlValue, joinHtml, raw, type SafeHtml, safeHtml } from "./safe_html.ts";
