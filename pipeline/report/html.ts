/**
 * The self-contained HTML report, `index.html`: one file with inline CSS, inline SVG charts and
 * every image embedded as a data URI, so it opens anywhere, offline, and can be mailed as is.
 *
 * @example
 * ```ts
 * import { AuditReportSchema } from "../schema/report.ts";
 * const report = AuditReportSchema.parse(JSON.parse(await Deno.readTextFile("audit-report/report.json")));
 * const path = await writeReportHtml("audit-report", report); // "audit-report/index.html"
 * ```
 */
import { Buffer } from "node:buffer";
import { join } from "node:path";
import type { AuditReport } from "../schema/report.ts";
import { writeAtomic } from "../io/files.ts";
import { joinHtml, safeHtml } from "./safe_html.ts";
import { reportSections } from "./sections/mod.ts";
import { REPORT_CSS } from "./style.ts";

/** The HTML report's file name inside the report folder. */
export const REPORT_HTML_FILE = "index.html";

/** Every asset path the report names (images of mistakes, adversarial pairs, sanity, bias grids). */
function assetPaths(report: AuditReport): Set<string> {
  const paths = new Set<string>();
  const e = report.explanations;
  for (const m of e?.mistakes ?? []) paths.add(m.image).add(m.saliency);
  for (const a of e?.adversarial ?? []) {
    paths.add(a.clean.image).add(a.clean.saliency).add(a.adversarial.image).add(a.adversarial.saliency);
  }
  if (e?.sanity) paths.add(e.sanity.figure);
  for (const c of report.bias?.classes ?? []) if (c.grid) paths.add(c.grid);
  return paths;
}

/**
 * The report as one HTML page; `readAsset` gives the bytes of a report-relative PNG path.
 *
 * @example
 * ```ts
 * import { join } from "node:path";
 * import type { AuditReport } from "../schema/report.ts";
 * declare const report: AuditReport;
 * const page = await renderReportHtml(report, (path) => Deno.readFile(join("audit-report", path)));
 * ```
 */
export async function renderReportHtml(
  report: AuditReport,
  readAsset: (path: string) => Promise<Uint8Array>,
): Promise<string> {
  const uris = new Map<string, string>();
  for (const path of assetPaths(report)) {
    uris.set(path, `data:image/png;base64,${Buffer.from(await readAsset(path)).toString("base64")}`);
  }
  const sections = reportSections(report, (path) => {
    const uri = uris.get(path);
    if (uri === undefined) throw new Error(`report html: asset ${path} is shown but was not read`);
    return uri;
  });
  const title = safeHtml`Audit of ${report.model.name}`;
  return String(safeHtml`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<style>${REPORT_CSS}</style>
</head>
<body>
<header>
<h1>${title}</h1>
<p class="sub">on ${report.data.name}: ${report.accuracy.count} images · ${report.createdAt}</p>
</header>
<nav><div>${sections.map((s) => safeHtml`<a href="#${s.id}">${s.title}</a>`)}</div></nav>
<main>
${joinHtml(sections.map((s) => safeHtml`<section id="${s.id}">\n<h2>${s.title}</h2>\n${s.body}\n</section>`), "\n")}
</main>
<footer>report.json schema version ${report.schemaVersion}</footer>
</body>
</html>
`);
}

/**
 * Renders the report of folder `dir` (assets read from it) and writes `dir/index.html`; returns its path.
 *
 * @example
 * ```ts
 * import type { AuditReport } from "../schema/report.ts";
 * declare const report: AuditReport;
 * console.log(`open ${await writeReportHtml("audit-report", report)}`);
 * ```
 */
export async function writeReportHtml(dir: string, report: AuditReport): Promise<string> {
  const html = await renderReportHtml(report, (path) => Deno.readFile(join(dir, path)));
  const path = join(dir, REPORT_HTML_FILE);
  await writeAtomic(path, new TextEncoder().encode(html));
  return path;
}
