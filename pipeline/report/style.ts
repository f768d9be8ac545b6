import { raw } from "./safe_html.ts";

/**
 * The report's stylesheet, inlined into index.html: system fonts, one readable column, tables with
 * right-aligned tabular numbers, a sticky navigation bar, and PNG images pixelated (inputs such as
 * digits are tiny), JPEG photographs scaled smoothly.
 * Markup as is (`raw`): a stylesheet is not HTML text, its quotes must stay quotes, and this one is ours.
 *
 * @example
 * ```ts
 * import { safeHtml } from "./safe_html.ts";
 * const head = safeHtml`<style>${REPORT_CSS}</style>`;
 * ```
 */
export const REPORT_CSS = raw(`
:root {
  --fg: #1d2430; --muted: #667085; --line: #e4e7ec; --bg: #fff; --soft: #f6f7f9; --accent: #2f5aa8;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  color: var(--fg); background: var(--bg); line-height: 1.5; font-size: 15px;
}
* { box-sizing: border-box; }
body { margin: 0; }
header, main { max-width: 1120px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 28px; }
h1 { font-size: 1.6rem; margin: 0 0 4px; overflow-wrap: anywhere; }
h2 { font-size: 1.3rem; margin: 40px 0 12px; padding-top: 8px; border-top: 1px solid var(--line); }
h3 { font-size: 1.05rem; margin: 20px 0 8px; overflow-wrap: anywhere; }
p { margin: 6px 0 10px; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.9em; }
.muted, .sub { color: var(--muted); }
nav {
  position: sticky; top: 0; z-index: 1; background: rgba(255, 255, 255, 0.95); border-bottom: 1px solid var(--line);
  font-size: 0.9rem;
}
nav div { max-width: 1120px; margin: 0 auto; padding: 8px 24px; display: flex; gap: 18px; flex-wrap: wrap; }
nav a { color: var(--accent); text-decoration: none; }
nav a:hover { text-decoration: underline; }
section { scroll-margin-top: 44px; }
table { border-collapse: collapse; margin: 8px 0 14px; font-size: 0.9rem; }
caption { text-align: left; font-weight: 600; padding-bottom: 4px; }
th, td { padding: 4px 10px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
thead th { border-bottom: 2px solid var(--line); font-weight: 600; }
th[scope="row"] { font-weight: 500; color: var(--muted); }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td { overflow-wrap: anywhere; }
td.accuracy { position: relative; min-width: 90px; }
.bar { position: absolute; left: 0; bottom: 2px; height: 3px; background: var(--accent); opacity: 0.35; }
.facts td { overflow-wrap: anywhere; }
.cols { display: flex; flex-wrap: wrap; gap: 12px 40px; align-items: flex-start; }
.stats { display: flex; flex-wrap: wrap; gap: 12px; margin: 16px 0; }
.stat { background: var(--soft); border-radius: 8px; padding: 10px 16px; min-width: 140px; }
.stat-value { font-size: 1.5rem; font-weight: 600; font-variant-numeric: tabular-nums; }
.stat-label { color: var(--muted); font-size: 0.85rem; }
.stat-note { color: var(--muted); font-size: 0.75rem; max-width: 180px; }
.badge {
  display: inline-block; font-size: 0.75rem; padding: 1px 7px; border-radius: 999px; margin: 1px 0;
  background: var(--soft); border: 1px solid var(--line); white-space: nowrap;
}
.badge-info { background: #eef4ff; border-color: #c7d7fe; color: #2f4a8a; }
.badge-warn { background: #fffaeb; border-color: #fedf89; color: #93370d; }
.badge-bad { background: #fef3f2; border-color: #fecdca; color: #b42318; }
figure { margin: 8px 0 16px; }
.legend { white-space: nowrap; margin-right: 10px; color: var(--fg); }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 5px; }
figcaption { color: var(--muted); font-size: 0.85rem; max-width: 560px; }
figure svg { max-width: 100%; height: auto; }
img[src$=".png"], img[src^="data:image/png"] { image-rendering: pixelated; } /* photographs (JPEG) scale smoothly */
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(230px, 1fr)); gap: 14px; }
.wide-cards { grid-template-columns: repeat(auto-fill, minmax(330px, 1fr)); }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; overflow-wrap: anywhere; }
.pair, .quad { display: grid; gap: 4px; }
.pair { grid-template-columns: 1fr 1fr; }
.quad { grid-template-columns: repeat(4, 1fr); }
.pair img, .quad img { width: 100%; height: auto; }
/* A saliency overlay over its image (markup.ts overlaid). */
.overlaid { position: relative; display: block; }
.overlaid img + img { position: absolute; left: 0; top: 0; }
.card dl { display: grid; grid-template-columns: auto 1fr; gap: 0 8px; margin: 8px 0 4px; font-size: 0.9rem; }
.card dt { color: var(--muted); }
.card dd { margin: 0; }
.card p { margin: 4px 0; font-size: 0.9rem; }
.bias-class { border-top: 1px solid var(--line); }
.bias-class.flagged h3 .name { color: #b42318; }
.bias-class summary { color: inherit; margin: 6px 0; }
.bias-class summary h3 { display: inline; margin: 0 8px 0 0; }
.counts { font-size: 0.85rem; }
/* Grids are a row of thumbnails: at least legible, at most as wide as the column and a few lines tall. */
.bias-class figure > img { min-height: 64px; max-height: 180px; width: auto; }
/* Long tables scroll in a box of their own, heading kept in view. */
.scroll { max-height: 70vh; overflow: auto; border: 1px solid var(--line); border-radius: 6px; }
.scroll table { margin: 0; width: 100%; }
.scroll thead th { position: sticky; top: 0; background: var(--bg); }
.table-tools { display: flex; gap: 10px; align-items: center; }
.table-tools input { font: inherit; padding: 3px 8px; border: 1px solid var(--line); border-radius: 6px; min-width: 220px; }
th button { font: inherit; font-weight: 600; color: var(--accent); background: none; border: 0; padding: 0; cursor: pointer; }
th[aria-sort="ascending"] button::after { content: " \\25B2"; }
th[aria-sort="descending"] button::after { content: " \\25BC"; }
/* Pictures keep their aspect ratio: never stretched in one direction only. */
figure > img { max-width: 100%; height: auto; }
.warnings li { color: #93370d; }
details summary { cursor: pointer; color: var(--accent); margin: 12px 0; }
footer { max-width: 1120px; margin: 40px auto; padding: 0 24px; color: var(--muted); font-size: 0.8rem; }
`);
