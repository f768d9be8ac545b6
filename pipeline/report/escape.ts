/**
 * HTML escaping for everything the report shows that came from a model, a data set or the report
 * itself (class names, paths, warnings): safe as element text and as a quoted attribute value.
 *
 * @example
 * ```ts
 * escapeHtml(`<b class="x">Tom & Jerry's</b>`); // "&lt;b class=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/b&gt;"
 * ```
 */

const ENTITIES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** `text` with & < > " ' replaced by entities. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ENTITIES[c]);
}
