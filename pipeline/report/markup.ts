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
 * A table; `keys` gives each row a `data-key` attribute, so tests and scripts can find it.
 *
 * @example
 * ```ts
 * table([{ title: "stage" }, { title: "seconds", numeric: true }], [["attack", "2.4"]], { id: "timings" });
 * ```
 */
export function table(
  columns: readonly Column[],
  rows: readonly HtmlValue[][],
  options: { id?: string; keys?: readonly (string | number)[]; caption?: HtmlValue } = {},
): SafeHtml {
  const cls = (c: Column) => [c.numeric ? "num" : "", c.cell ?? ""].filter(Boolean).join(" ");
  const attr = (c: Column) => cls(c) && safeHtml` class="${cls(c)}"`;
  const head = columns.map((c) => safeHtml`<th${c.numeric && safeHtml` class="num"`}>${c.title}</th>`);
  const body = rows.map((cells, r) => {
    const key = options.keys && safeHtml` data-key="${options.keys[r]}"`;
    return safeHtml`<tr${key}>${cells.map((cell, c) => safeHtml`<td${attr(columns[c])}>${cell}</td>`)}</tr>`;
  });
  const id = options.id && safeHtml` id="${options.id}"`;
  const caption = options.caption ? safeHtml`<caption>${options.caption}</caption>` : "";
  return safeHtml`<table${id}>${caption}<thead><tr>${head}</tr></thead>
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

/** An `<img>` of a data URI, with `alt` text. */
export function img(dataUri: string, alt: string): SafeHtml {
  return safeHtml`<img src="${dataUri}" alt="${alt}">`;
}
