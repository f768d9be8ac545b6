/**
 * The HTML report, `index.html`: one file with inline CSS, inline SVG charts and every image
 * embedded as a data URI, so it opens anywhere, offline, and can be mailed as is, as long as the
 * images total at most `EMBEDDED_BYTES`. Beyond (a 1,000-class report's grids, ImageNet-sized
 * pictures) the page links them instead, files beside it under `assets/`, each loaded as it comes
 * into view: base64 would make the page a third larger than its pictures and slow to open.
 * A Content-Security-Policy lets the page run its own scripts (by hash) and nothing else.
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
import { regularFileInside } from "../io/contained_path.ts";
import { writeAtomic } from "../io/files.ts";
import { InputError } from "../io/input_error.ts";
import { ASSET_MIME, assetFormat } from "../schema/asset_path.ts";
import type { Picture } from "./markup.ts";
import { pictureSize } from "./picture_size.ts";
import { joinHtml, raw, type SafeHtml, safeHtml } from "./safe_html.ts";
import { reportSections } from "./sections/mod.ts";
import { REPORT_CSS } from "./style.ts";

/** The HTML report's file name inside the report folder. */
export const REPORT_HTML_FILE = "index.html";

/** Images totalling at most this many bytes are embedded in the page; more are linked. */
export const EMBEDDED_BYTES = 8 * 1024 * 1024;

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
  // Bias slices' prototype rows.
  for (const s of report.bias?.classes.flatMap((c) => c.slices ?? []) ?? []) if (s.grid) paths.add(s.grid);
  if (report.bias?.counterfactual?.grid) paths.add(report.bias.counterfactual.grid);
  return paths;
}

/** The page's policy: images from data URIs and beside the page, inline styles, and only these scripts. */
async function contentSecurityPolicy(scripts: readonly string[]): Promise<string> {
  const hashes = await Promise.all(scripts.map(async (script) => {
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(script));
    return `'sha256-${Buffer.from(digest).toString("base64")}'`;
  }));
  return `default-src 'none'; img-src data: 'self'; style-src 'unsafe-inline'; script-src ${
    hashes.length > 0 ? hashes.join(" ") : "'none'"
  }`;
}

/** The sections' scripts, each its own inline element; they are ours, so as is. */
function scriptElements(scripts: readonly string[]): SafeHtml {
  return joinHtml(
    scripts.map((script) => {
      if (/<\/script/i.test(script)) throw new Error("report html: a section script must not contain </script");
      return safeHtml`<script>${raw(script)}</script>`;
    }),
    "\n",
  );
}

/**
 * The report as one HTML page; `readAsset` gives the bytes of a report-relative picture path.
 *
 * @example
 * ```ts
 * import { join } from "node:path";
 * import type { AuditReport } from "../schema/report.ts";
 * declare const report: AuditReport;
 * const page = await renderReportHtml(report, (path) => readReportAsset("audit-report", path));
 * ```
 */
export async function renderReportHtml(
  report: AuditReport,
  readAsset: (path: string) => Promise<Uint8Array>,
): Promise<string> {
  const files = new Map<string, Uint8Array>();
  for (const path of assetPaths(report)) files.set(path, await readAsset(path));
  const embedded = [...files.values()].reduce((sum, bytes) => sum + bytes.length, 0) <= EMBEDDED_BYTES;
  const pictures = new Map<string, Picture>();
  for (const [path, bytes] of files) {
    const format = assetFormat(path);
    const src = embedded ? `data:${ASSET_MIME[format]};base64,${Buffer.from(bytes).toString("base64")}` : path;
    pictures.set(path, { src, ...pictureSize(path, format, bytes) });
  }
  const sections = reportSections(report, (path) => {
    const picture = pictures.get(path);
    if (picture === undefined) throw new Error(`report html: asset ${path} is shown but was not read`);
    return picture;
  });
  const scripts = sections.flatMap((s) => (s.script === undefined ? [] : [s.script]));
  const policy = await contentSecurityPolicy(scripts);
  const title = safeHtml`Audit of ${report.model.name}`;
  return String(safeHtml`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${policy}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<style>${REPORT_CSS}</style>
</head>
<body>
<header>
<h1>${title}</h1>
<p class="sub">on ${report.data.name}: ${report.accuracy.count} images · ${report.createdAt}</p>${
    !embedded &&
    safeHtml`\n<p class="sub">The pictures are files beside this page, under <code>assets/</code>: keep the folder together.</p>`
  }
</header>
<nav><div>${sections.map((s) => safeHtml`<a href="#${s.id}">${s.title}</a>`)}</div></nav>
<main>
${joinHtml(sections.map((s) => safeHtml`<section id="${s.id}">\n<h2>${s.title}</h2>\n${s.body}\n</section>`), "\n")}
</main>
<footer>report.json schema version ${report.schemaVersion}</footer>
${scriptElements(scripts)}
</body>
</html>
`);
}

/**
 * The bytes of the picture at the report-relative `path` of the report folder `dir`. It must be a
 * regular file inside the folder: a symbolic link (to /etc/passwd, say), a FIFO or anything that
 * leads out is not one of the report's pictures and is an InputError, as is a missing file.
 *
 * @example
 * ```ts
 * const png = await readReportAsset("audit-report", "assets/clean-0.png");
 * ```
 */
export async function readReportAsset(dir: string, path: string): Promise<Uint8Array> {
  const real = await regularFileInside(dir, path);
  if (real === null) {
    throw new InputError(`${join(dir, path)}: the report's picture is missing, a link, or not a regular file`);
  }
  return await Deno.readFile(real);
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
  const html = await renderReportHtml(report, (path) => readReportAsset(dir, path));
  const path = join(dir, REPORT_HTML_FILE);
  await writeAtomic(path, new TextEncoder().encode(html));
  return path;
}
