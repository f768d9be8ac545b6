/**
 * The HTML report's door: `index.html` rendered from an audit report, self-contained (inline CSS,
 * SVG charts drawn with Observable Plot, images as data URIs), its charts and its escaping.
 *
 * @example
 * ```ts
 * const report = AuditReportSchema.parse(JSON.parse(await Deno.readTextFile("audit-report/report.json")));
 * const path = await writeReportHtml("audit-report", report);
 * ```
 */
export { escapeHtml } from "./escape.ts";
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
