/**
 * Sorting and filtering of long tables, in the browser: the inline script the page runs for every
 * `<table class="sortable" data-filter="CELL">`. It turns each heading into a button that sorts the
 * rows by that column (numeric columns, `th.num`, by number, others by text; a second click
 * reverses; cells that are no number, such as "–", go last), and puts a search box before the table
 * that shows only the rows whose `td.CELL` holds the typed text (case-insensitive). Without
 * JavaScript the table is the same table, unsorted and whole.
 *
 * @example
 * ```ts
 * import { table } from "./markup.ts";
 * const classes = table([{ title: "class", cell: "name" }], [["cat"], ["dog"]], { id: "per-class", sortable: "name" });
 * const section = { id: "accuracy", title: "Accuracy", body: classes, script: SORTABLE_SCRIPT };
 * ```
 */

/** The script, as the page inlines it (the page's Content-Security-Policy allows it by hash). */
export const SORTABLE_SCRIPT = `"use strict";
for (const table of document.querySelectorAll("table.sortable")) {
  const body = table.tBodies[0];
  const rows = Array.from(body.rows);
  const heads = Array.from(table.tHead.rows[0].cells);
  const filterCell = table.dataset.filter;
  const texts = rows.map((r) => r.querySelector("td." + filterCell).textContent.toLowerCase());
  const input = document.createElement("input");
  input.type = "search";
  input.placeholder = "filter by name";
  input.setAttribute("aria-label", "show only rows whose name holds this text");
  const shown = document.createElement("span");
  shown.className = "muted shown";
  const tools = document.createElement("p");
  tools.className = "table-tools";
  tools.append(input, " ", shown);
  table.before(tools);
  const filter = () => {
    const query = input.value.trim().toLowerCase();
    let count = 0;
    rows.forEach((r, i) => {
      r.hidden = query !== "" && !texts[i].includes(query);
      if (!r.hidden) count++;
    });
    shown.textContent = count + " of " + rows.length + " rows";
  };
  input.addEventListener("input", filter);
  const order = new Map(rows.map((r, i) => [r, i]));
  heads.forEach((th, column) => {
    const numeric = th.classList.contains("num");
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = th.textContent;
    th.replaceChildren(button);
    const keys = new Map(rows.map((r) => {
      const text = r.cells[column].textContent.trim();
      return [r, numeric ? parseFloat(text) : text.toLowerCase()];
    }));
    button.addEventListener("click", () => {
      const sign = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
      for (const h of heads) h.removeAttribute("aria-sort");
      th.setAttribute("aria-sort", sign > 0 ? "ascending" : "descending");
      const compare = (a, b) => {
        const x = keys.get(a), y = keys.get(b);
        if (numeric && Number.isNaN(x) !== Number.isNaN(y)) return Number.isNaN(x) ? 1 : -1;
        const c = numeric ? (Number.isNaN(x) ? 0 : x - y) : x.localeCompare(y);
        return sign * c || order.get(a) - order.get(b);
      };
      body.append(...rows.slice().sort(compare));
    });
  });
  filter();
}
`;
