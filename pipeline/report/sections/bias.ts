/**
 * The biases section: first what was found (slices of mistakes, flags, the counterfactual test:
 * bias_findings.ts), then MMD-critic prototypes and criticisms per predicted class, its slices, the
 * group findings and MMD tests behind a flag, flagged classes first. Each class is a row that folds (`<details>`):
 * with many classes only the flagged ones are open, and a folded class's grid loads when opened.
 *
 * @example
 * ```ts
 * import type { AuditReport } from "../../schema/report.ts";
 * import type { Embed } from "./section.ts";
 * declare const report: AuditReport;
 * declare const embed: Embed;
 * const section = report.bias ? biasSection(report.bias, embed) : null; // id "bias"
 * ```
 */
import type { AuditReport } from "../../schema/report.ts";
import type { BiasClass } from "../../schema/bias.ts";
import { badge, figure, fixed, img, pct, pValue, table } from "../markup.ts";
import { joinHtml, type SafeHtml, safeHtml } from "../safe_html.ts";
import type { Embed, Section } from "./section.ts";
import { biasFindings, flagItem, flagOrder } from "./bias_findings.ts";

/** Up to this many classes every class is shown open; beyond, only the flagged ones. */
const OPEN_CLASSES = 30;

function groupFindings(c: BiasClass): SafeHtml | null {
  if (!c.groups || c.groups.length === 0) return null;
  return table(
    [
      { title: "group" },
      { title: "in pool", numeric: true },
      { title: "pool share", numeric: true },
      { title: "prototype share", numeric: true },
      { title: "into class", numeric: true },
      { title: "rest into class", numeric: true },
      { title: "rate ratio (pooled / by label)", numeric: true },
      { title: "adjusted p", numeric: true },
      { title: "accuracy on class", numeric: true },
      { title: "rest's accuracy", numeric: true },
      { title: "error ratio", numeric: true },
      { title: "adjusted p", numeric: true },
    ],
    c.groups.map((g) => [
      g.group,
      String(g.poolCount),
      pct(g.poolShare),
      pct(g.prototypeShare),
      counted(g.intoClass),
      counted(g.restIntoClass),
      `${fixed(g.rateRatio, 2)} / ${fixed(g.stratifiedRateRatio ?? null, 2)}`,
      pValue(g.adjustedPValue),
      g.accuracy ? counted(g.accuracy) : "",
      g.restAccuracy ? counted(g.restAccuracy) : "",
      fixed(g.errorRatio ?? null, 2),
      g.accuracyAdjustedPValue === undefined ? "" : pValue(g.accuracyAdjustedPValue),
    ]),
    { caption: "Group findings" },
  );
}

/** Every slice the search kept for the class, found or not. */
function sliceTable(c: BiasClass): SafeHtml | null {
  if (!c.slices || c.slices.length === 0) return null;
  return table(
    [
      { title: "seed" },
      { title: "share", numeric: true },
      { title: "mistakes in slice", numeric: true },
      { title: "95% CI", numeric: true },
      { title: "rest", numeric: true },
      { title: "adjusted p", numeric: true },
      { title: "found" },
    ],
    // Found slices first, then by adjusted p.
    [...c.slices].sort((a, b) => Number(b.found) - Number(a.found) || a.adjustedPValue - b.adjustedPValue).map((s) => [
      safeHtml`${example(s.seed)} <span class="muted">${s.seed.kind}</span>`,
      pct(s.share),
      `${s.mistakes}/${s.size}`,
      `${pct(s.interval[0])}–${pct(s.interval[1])}`,
      `${s.rest.mistakes}/${s.rest.size}`,
      pValue(s.adjustedPValue),
      s.found ? badge("found", "bad") : "no",
    ]),
    { caption: "Slices of mistakes (no group labels)" },
  );
}

/** "12/400 (3.0%)". */
function counted(r: { count: number; of: number; rate: number }): string {
  return `${r.count}/${r.of} (${pct(r.rate)})`;
}

/** The class's flags, each with its evidence and, for a mirror, the diagnosis line. */
function flagList(c: BiasClass): SafeHtml | null {
  if (!c.flags || c.flags.length === 0) return null;
  const items = [...c.flags].sort(flagOrder).map((f) => flagItem(f, "the class", true));
  return safeHtml`<ul class="bias-flags">${joinHtml(items, "\n")}</ul>`;
}

function mmdTests(c: BiasClass): SafeHtml | null {
  if (!c.mmd || c.mmd.length === 0) return null;
  return table(
    [
      { title: "groups" },
      { title: "sizes", numeric: true },
      { title: "MMD² (biased)", numeric: true },
      { title: "MMD² (unbiased)", numeric: true },
      { title: "sigma", numeric: true },
      { title: "p", numeric: true },
      { title: "adjusted p", numeric: true },
      { title: "permutations", numeric: true },
    ],
    c.mmd.map((t) => [
      `${t.groups[0]} vs ${t.groups[1]}`,
      `${t.sizes[0]} / ${t.sizes[1]}`,
      fixed(t.biased, 4),
      fixed(t.unbiased, 4),
      fixed(t.sigma, 3),
      pValue(t.pValue),
      t.adjustedPValue === undefined ? "" : pValue(t.adjustedPValue),
      String(t.permutations),
    ]),
    { caption: "MMD two-sample tests" },
  );
}

/** An image number, with its group where known. */
function example(e: { index: number; group?: string }): SafeHtml {
  return safeHtml`#${e.index}${e.group !== undefined && safeHtml` <span class="muted">(${e.group})</span>`}`;
}

function listOrNone(items: readonly SafeHtml[]): SafeHtml | string {
  return items.length > 0 ? joinHtml(items, ", ") : "none";
}

/** "1 prototype", "3 prototypes". */
function amount(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

function biasClass(c: BiasClass, embed: Embed, open: boolean): SafeHtml {
  const flag = c.flagged &&
    safeHtml` ${badge("flagged", "bad")} ${joinHtml(c.flaggedGroups.map((g) => badge(g, "warn")), " ")}`;
  const criticisms = c.criticisms.map((e) =>
    safeHtml`${example(e)} <span class="muted">witness ${fixed(e.witness, 3)}</span>`
  );
  const counts = `${c.poolSize} predicted · ${amount(c.prototypes.length, "prototype")} · ${
    amount(c.criticisms.length, "criticism")
  }`;
  return safeHtml`<article class="bias-class${c.flagged && " flagged"}" data-class="${c.label}">
<details${
    open && " open"
  }><summary><h3><span class="name">${c.name}</span> <span class="muted">#${c.label}</span>${flag}</h3>
<span class="muted counts">${counts}</span></summary>
<p>${c.poolSize} images predicted as this class${c.sigma !== null && `; RBF sigma ${fixed(c.sigma, 3)}`}.</p>
${
    c.grid &&
    figure(
      img(embed(c.grid), `prototypes and criticisms of ${c.name}`),
      safeHtml`Prototypes, then criticisms, then (when computed) the prototypes' mean saliency.`,
    )
  }
<p><strong>Prototypes:</strong> ${listOrNone(c.prototypes.map(example))}<br>
<strong>Criticisms:</strong> ${listOrNone(criticisms)}</p>
${sliceTable(c)}
${flagList(c)}
${groupFindings(c)}
${mmdTests(c)}
</details>
</article>`;
}

/** How a long list of classes is shown: which are open. */
function classesNote(classes: readonly BiasClass[], openAll: boolean): SafeHtml | null {
  if (openAll) return null;
  const flagged = classes.filter((c) => c.flagged).length;
  const shown = classes.length === 1 ? "1 class" : `${classes.length} classes`;
  return safeHtml`<p class="muted">${shown}, ${flagged} flagged: flagged classes first and open, the others
folded (a class's grid loads when it is opened).</p>`;
}

/** The classes no image was predicted as, in one folded line. */
function emptyClassesNote(empty: readonly BiasClass[]): SafeHtml | string {
  if (empty.length === 0) return "";
  return safeHtml`<details class="empty-classes"><summary class="muted">${empty.length} classes no image was predicted as:
nothing to summarise</summary><p class="muted">${
    joinHtml(empty.map((c) => safeHtml`${c.name} #${c.label}`), ", ")
  }</p></details>`;
}

/** The feature store's bound, planned before the batch pass, and what it held (audits record it). */
function featureStoreNote(store: NonNullable<AuditReport["bias"]>["settings"]["featureStore"]): SafeHtml | string {
  if (!store) return "";
  const mb = (v: number) => (v < 10 ? v.toPrecision(3) : v.toFixed(0));
  return safeHtml`<p class="settings">Feature rows: at most ${store.rowsPerClass} per class × ${store.classes} classes ×
${store.featureWidth} wide, ${store.maxRows} rows or ${mb(store.maxMb)} MiB at most; ${store.keptRows} kept, at most
${mb(store.peakHeldMb)} MiB in memory at once (budget ${mb(store.budgetMb)} MiB${
    store.spilled ? ", the rest on disk" : ""
  }). MMD-critic's work: at most ${store.multiplyAddsBound.toExponential(2)} multiply-adds.</p>`;
}

/**
 * The biases section, for a report with a bias stage.
 *
 * @example
 * ```ts
 * import type { AuditReport } from "../../schema/report.ts";
 * declare const bias: NonNullable<AuditReport["bias"]>;
 * const body = biasSection(bias, (path) => ({ src: path, width: 208, height: 16 })).body;
 * ```
 */
export function biasSection(bias: NonNullable<AuditReport["bias"]>, embed: Embed): Section {
  const s = bias.settings;
  // Flagged classes first: they are what the reader came for.
  const sorted = [...bias.classes].sort((a, b) => Number(b.flagged) - Number(a.flagged) || a.label - b.label);
  const openAll = sorted.length <= OPEN_CLASSES;
  // Among many classes, those no image was predicted as have nothing to show: one line names them.
  const classes = openAll ? sorted : sorted.filter((c) => c.poolSize > 0 || c.flagged);
  const empty = openAll ? [] : sorted.filter((c) => !classes.includes(c));
  return {
    id: "bias",
    title: "Biases",
    body:
      safeHtml`<p class="settings">MMD-critic in the features of node <code>${s.featureNode}</code>, per predicted class: prototypes
${s.prototypes}, criticisms ${s.criticisms}. ${
        s.comparisons === 0
          ? safeHtml`No group metadata was given (<code>--groups FILE</code>), so no class can be flagged.`
          : safeHtml`MMD tests with ${s.permutations} permutations. A class is flagged when a group is predicted into it at least
${s.rateRatio}× as often as the other groups${
            s.correction === "holm" && " label by label, or its images of the class are missed that much more often,"
          } with p &lt; ${s.alpha} over ${s.comparisons} comparisons (${s.significance}).`
      }</p>
${featureStoreNote(s.featureStore)}
${biasFindings(bias, embed)}
${classesNote(classes, openAll)}
${joinHtml(classes.map((c) => biasClass(c, embed, openAll || c.flagged)), "\n")}
${emptyClassesNote(empty)}`,
  };
}
