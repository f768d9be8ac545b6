/**
 * The report's shared building blocks: number formats, tables with right-aligned numeric columns,
 * fact tables, stat tiles, badges, figures and embedded images. Every text argument is escaped (by
 * `safeHtml`); pass `safeHtml` markup where a cell or caption holds more than text.
 *
 * @example
 * ```ts
 * const perClass = table([{ title: "class" }, { title: "accuracy", numeric: true }], [["<cat>", pct(0.93)]]);
 * ```
 */
import { type HtmlValue, joinHtml, type SafeHtml, safeHtml } from "./safe_html.ts";

/** A table column: its heading, and whether it holds numbers (right-aligned, tabular digits). */
export interface Column {
  title: string;
  numeric?: boolean;
  /** A class for the column's cells, to find them (e.g. "name"). */
  cell?: string;
}

/** A share as a percentage ("93.1%"); "–" for null. */
export function pct(value: number | null): string {
  return value === null ? "–" : `${(100 * value).toFixed(1)}%`;
}

/** A number with fixed decimals; "–" for null. */
export function fixed(value: number | null, digits = 3): string {
  return value === null ? "–" : value.toFixed(digits);
}

/** A p-value: three decimals, or scientific notation below 0.001. */
export function pValue(p: number): string {
  return p > 0 && p < 0.001 ? p.toExponential(1) : p.toFixed(3);
}

/**
 * A table; `keys` gives each row a `data-key` attribute, so tests and scripts can find it;
 * `sortable` names the cell class to filter on and marks the table for sortable.ts's script.
 *
 * @example
 * ```ts
 * table([{ title: "stage" }, { title: "seconds", numeric: true }], [["attack", "2.4"]], { id: "timings" });
 * ```
 */
export function table(
  columns: readonly Column[],
  rows: readonly HtmlValue[][],
  options: { id?: string; keys?: readonly (string | number)[]; caption?: HtmlValue; sortable?: string } = {},
): SafeHtml {
  const cls = (c: Column) => [c.numeric ? "num" : "", c.cell ?? ""].filter(Boolean).join(" ");
  const attr = (c: Column) => cls(c) && safeHtml` class="${cls(c)}"`;
  const head = columns.map((c) => safeHtml`<th${c.numeric && safeHtml` class="num"`}>${c.title}</th>`);
  const body = rows.map((cells, r) => {
    const key = options.keys && safeHtml` data-key="${options.keys[r]}"`;
    return safeHtml`<tr${key}>${cells.map((cell, c) => safeHtml`<td${attr(columns[c])}>${cell}</td>`)}</tr>`;
  });
  const id = options.id && safeHtml` id="${options.id}"`;
  const sortable = options.sortable && safeHtml` class="sortable" data-filter="${options.sortable}"`;
  const caption = options.caption ? safeHtml`<caption>${options.caption}</caption>` : "";
  return safeHtml`<table${id}${sortable}>${caption}<thead><tr>${head}</tr></thead>
<tbody>
${joinHtml(body, "\n")}
</tbody></table>`;
}

/**
 * A two-column table of names and values.
 *
 * @example
 * ```ts
 * import { safeHtml } from "./safe_html.ts";
 * facts([["model", safeHtml`<code>${"models/cnn"}</code>`], ["classes", "10"]]);
 * ```
 */
export function facts(rows: readonly [string, HtmlValue][]): SafeHtml {
  return safeHtml`<table class="facts"><tbody>${
    joinHtml(rows.map(([k, v]) => safeHtml`<tr><th scope="row">${k}</th><td>${v}</td></tr>`), "\n")
  }</tbody></table>`;
}

/**
 * A headline number in a tile, with its label and an optional note.
 *
 * @example
 * ```ts
 * stat("top-1", pct(0.931), "of 10000 images");
 * ```
 */
export function stat(label: string, value: string, note = ""): SafeHtml {
  return safeHtml`<div class="stat"><div class="stat-value">${value}</div><div class="stat-label">${label}</div>${
    note && safeHtml`<div class="stat-note">${note}</div>`
  }</div>`;
}

/** A small label; `kind` picks its colour (see the stylesheet's .badge-* rules). */
export function badge(text: string, kind: "info" | "warn" | "bad"): SafeHtml {
  return safeHtml`<span class="badge badge-${kind}">${text}</span>`;
}

/** A chart or picture with a caption. */
export function figure(body: HtmlValue, caption: HtmlValue): SafeHtml {
  return safeHtml`<figure>${body}<figcaption>${caption}</figcaption></figure>`;
}

/** A picture on the page: its source (a data URI, or a path beside the page) and its size in pixels. */
export interface Picture {
  src: string;
  width: number;
  height: number;
}

/**
 * An `<img>` of a picture, with `alt` text. Its width and height are given, so the page is laid out
 * before any image is decoded, and it loads lazily: only once it is (nearly) in view, which keeps
 * closed rows and far sections from loading at open.
 *
 * @example
 * ```ts
 * img({ src: "assets/bias-3.png", width: 208, height: 16 }, "prototypes of class 3");
 * ```
 */
export function img(picture: Picture, alt: string): SafeHtml {
  const { src, width, height } = picture;
  return safeHtml`<img src="${src}" width="${width}" height="${height}" alt="${alt}" loading="lazy" decoding="async">`;
}

/**
 * A picture with an overlay drawn over it, as one: a saliency map's PNG (audit/assets.ts
 * `overlay`) over its image, both `img`s, the overlay's `alt` the pair's.
 *
 * @example
 * ```ts
 * const image = { src: "assets/mistake-3.png", width: 112, height: 112 };
 * overlaid(image, { ...image, src: "assets/mistake-3-saliency.png" }, "Grad-CAM saliency of image 3");
 * ```
 */
export function overlaid(image: Picture, overlay: Picture, alt: string): SafeHtml {
  return safeHtml`<span class="overlaid">${img(image, "")}${img(overlay, alt)}</span>`;
}
