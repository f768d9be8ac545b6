/**
 * Small HTML builders for the report: number formats, tables with right-aligned numeric columns,
 * badges, figures and embedded images. Cell and body arguments are HTML already; plain strings
 * from the report go through `escapeHtml` first.
 *
 * @example
 * ```ts
 * const html = table([{ title: "class" }, { title: "accuracy", numeric: true }], [[escapeHtml(name), pct(0.93)]]);
 * ```
 */
import { escapeHtml } from "./escape.ts";

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
 * table([{ title: "stage" }, { title: "seconds", numeric: true }], [["attack", "2.4"]]);
 * ```
 */
export function table(
  columns: readonly Column[],
  rows: readonly string[][],
  options: { id?: string; keys?: readonly (string | number)[]; caption?: string } = {},
): string {
  const cls = (c: Column) => [c.numeric ? "num" : "", c.cell ?? ""].filter(Boolean).join(" ");
  const attr = (c: Column) => (cls(c) ? ` class="${cls(c)}"` : "");
  const head = columns.map((c) => `<th${c.numeric ? ' class="num"' : ""}>${c.title}</th>`).join("");
  const body = rows.map((cells, r) => {
    const key = options.keys ? ` data-key="${escapeHtml(String(options.keys[r]))}"` : "";
    return `<tr${key}>${cells.map((cell, c) => `<td${attr(columns[c])}>${cell}</td>`).join("")}</tr>`;
  }).join("\n");
  const id = options.id ? ` id="${escapeHtml(options.id)}"` : "";
  const caption = options.caption ? `<caption>${options.caption}</caption>` : "";
  return `<table${id}>${caption}<thead><tr>${head}</tr></thead>\n<tbody>\n${body}\n</tbody></table>`;
}

/** A small label; `kind` picks its colour (see the stylesheet's .badge-* rules). */
export function badge(text: string, kind: "info" | "warn" | "bad"): string {
  return `<span class="badge badge-${kind}">${escapeHtml(text)}</span>`;
}

/** A chart or picture with a caption (caption is HTML). */
export function figure(body: string, caption: string): string {
  return `<figure>${body}<figcaption>${caption}</figcaption></figure>`;
}

/** An `<img>` of a data URI; `alt` is plain text. */
export function img(dataUri: string, alt: string): string {
  return `<img src="${dataUri}" alt="${escapeHtml(alt)}">`;
}
