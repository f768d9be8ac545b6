/**
 * Safe HTML: the `safeHtml` tagged template escapes every value it interpolates, so text from a
 * model, a data set or the report (class names, paths, warnings) can only ever be text, in an
 * element or a quoted attribute value. Markup is built only from the template's literal parts, from
 * other `safeHtml` results, and from `raw`, the one explicit way in for trusted markup (a chart's
 * SVG, a stylesheet). (Not named `html`: deno fmt reformats templates with that tag, whitespace and all.)
 *
 * What an interpolated value becomes:
 * - a string or a number: its text with & < > " ' replaced by entities;
 * - a `SafeHtml` (from `safeHtml` or `raw`): its markup, as is;
 * - an array: its elements, each by these rules, joined with nothing between (`joinHtml` for a separator);
 * - `null`, `undefined` or `false`: nothing, so `${cond && safeHtml`...`}` leaves out what does not apply.
 *   `true` is not accepted: write `String(flag)` where a page shows a boolean.
 *
 * @example
 * ```ts
 * const name = `"a" & <b>`;
 * const cell = safeHtml`<td title="${name}">${name}</td>`;
 * String(cell); // '<td title="&quot;a&quot; &amp; &lt;b&gt;">&quot;a&quot; &amp; &lt;b&gt;</td>'
 * const list = safeHtml`<ul>${["a<b", "c"].map((item) => safeHtml`<li>${item}</li>`)}</ul>`; // "<ul><li>a&lt;b</li><li>c</li></ul>"
 * ```
 */

/** Markup that is safe to insert as is: made only by `safeHtml` and `raw`. */
class SafeHtml {
  readonly #markup: string;
  constructor(markup: string) {
    this.#markup = markup;
  }
  /** The markup, for the page's file or response. */
  toString(): string {
    return this.#markup;
  }
}
// Exported as a type only: a SafeHtml cannot be made outside this module but through `safeHtml` or `raw`.
export type { SafeHtml };

/** What `safeHtml` accepts in a `${}`: text, numbers, safe markup, lists of these, or nothing. */
export type HtmlValue = string | number | SafeHtml | null | undefined | false | readonly HtmlValue[];

const ENTITIES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ENTITIES[c]);
}

function markupOf(value: HtmlValue): string {
  if (value === null || value === undefined || value === false) return "";
  if (value instanceof SafeHtml) return value.toString();
  if (Array.isArray(value)) return value.map(markupOf).join("");
  return escapeHtml(String(value));
}

/**
 * HTML from a template: the literal parts as written, every `${}` value escaped unless it is safe
 * markup already (see the module's rules).
 *
 * @example
 * ```ts
 * const label = "<script>alert(1)</script>";
 * const badge = safeHtml`<span class="badge" data-name="${label}">${label}</span>`;
 * const row = safeHtml`<tr>${badge}${false}${null}<td>${0.25}</td></tr>`; // the badge as is, "0.25"
 * ```
 */
export function safeHtml(strings: TemplateStringsArray, ...values: readonly HtmlValue[]): SafeHtml {
  let markup = strings[0];
  values.forEach((value, i) => markup += markupOf(value) + strings[i + 1]);
  return new SafeHtml(markup);
}

/**
 * Trusted markup, inserted as is: only for markup this program made itself (Plot's SVG, whose text
 * nodes its serializer escapes; the inline stylesheet and script). Never for text from a report.
 *
 * @example
 * ```ts
 * const style = safeHtml`<style>${raw(`body { font-family: "Segoe UI", sans-serif; }`)}</style>`;
 * ```
 */
export function raw(markup: string): SafeHtml {
  return new SafeHtml(markup);
}

/**
 * The values, each by `safeHtml`'s rules, with `separator` (text, escaped) between them.
 *
 * @example
 * ```ts
 * const names = joinHtml(["cat", "<dog>"].map((n) => safeHtml`<b>${n}</b>`), ", "); // "<b>cat</b>, <b>&lt;dog&gt;</b>"
 * ```
 */
export function joinHtml(values: readonly HtmlValue[], separator: string): SafeHtml {
  return new SafeHtml(values.map(markupOf).join(escapeHtml(separator)));
}
