/**
 * The top of the biases section: what the bias stage found, before the per-class rows. The slices
 * of mistakes found without group labels (the best first, each with its prototypes, rates and
 * interval; beyond the first few, folded), the group flags that stand on their own (mirrors of
 * another flag folded, each with its diagnosis line), and the counterfactual test.
 *
 * @example
 * ```ts
 * import type { AuditReport } from "../../schema/report.ts";
 * import type { Embed } from "./section.ts";
 * declare const bias: NonNullable<AuditReport["bias"]>;
 * declare const embed: Embed;
 * const html = biasFindings(bias, embed); // null when there is nothing to report
 * ```
 */
import type { AuditReport } from "../../schema/report.ts";
import type { BiasClass, SliceReport } from "../../schema/bias.ts";
import { badge, figure, fixed, img, pct, pValue, table } from "../markup.ts";
import { joinHtml, type SafeHtml, safeHtml } from "../safe_html.ts";
import type { Embed } from "./section.ts";

type Bias = NonNullable<AuditReport["bias"]>;

/** Slices shown open, with their pictures; the rest fold. */
export const TOP_SLICES = 10;

/** "42/54 (77.8%, 95% CI 65.1-86.8%)". */
function rateWithInterval(s: SliceReport): string {
  return `${s.mistakes}/${s.size} (${pct(s.errorRate)}, 95% CI ${pct(s.interval[0])}–${pct(s.interval[1])})`;
}

function sliceRows(slices: readonly { c: BiasClass; s: SliceReport; rank: number }[], embed: Embed, pictures: boolean) {
  return slices.map(({ c, s, rank }) => [
    String(rank),
    safeHtml`${c.name} <span class="muted">#${c.label}</span>`,
    pct(s.share),
    rateWithInterval(s),
    `${s.rest.mistakes}/${s.rest.size} (${pct(s.restErrorRate)})`,
    fixed(s.ratio, 1),
    pValue(s.adjustedPValue),
    s.labels.map((l) => `${l.label}: ${l.count}`).join(", "),
    pictures && s.grid ? img(embed(s.grid), `prototypes of slice ${rank} of ${c.name}`) : "",
  ]);
}

const SLICE_COLUMNS = [
  { title: "#" },
  { title: "class" },
  { title: "share of class", numeric: true },
  { title: "mistakes in slice", numeric: true },
  { title: "rest of class", numeric: true },
  { title: "ratio", numeric: true },
  { title: "adjusted p (holdout)", numeric: true },
  { title: "true labels" },
  { title: "prototypes" },
];

/** Every found slice over all classes, best first: lowest adjusted p, then highest error rate. */
export function rankedSlices(bias: Bias): { c: BiasClass; s: SliceReport; rank: number }[] {
  return bias.classes.flatMap((c) => (c.slices ?? []).filter((s) => s.found).map((s) => ({ c, s })))
    .sort((a, b) => a.s.adjustedPValue - b.s.adjustedPValue || b.s.errorRate - a.s.errorRate)
    .map((x, i) => ({ ...x, rank: i + 1 }));
}

function slicesBlock(bias: Bias, embed: Embed): SafeHtml | null {
  const settings = bias.settings.slices;
  if (!settings) return null;
  const ranked = rankedSlices(bias);
  const how = safeHtml`<p class="settings">Slices: kernel balls in feature space around ${settings.seeds} seeds per
class (its criticisms and mistakes), chosen on half the class's images and tested on the other half; a slice counts
when it holds at least ${pct(settings.minShare)} of the class, its error rate is at least ${bias.settings.rateRatio}×
the rest's, and its holdout p &lt; ${bias.settings.alpha} after Holm over ${settings.comparisons} slices.${
    settings.multiplyAddsBound !== undefined &&
    safeHtml` The search's work: at most ${settings.multiplyAddsBound.toExponential(2)} multiply-adds.`
  }</p>`;
  if (ranked.length === 0) return safeHtml`${how}<p>No slice of mistakes above the threshold.</p>`;
  const top = ranked.slice(0, TOP_SLICES), rest = ranked.slice(TOP_SLICES);
  return safeHtml`${how}
${table(SLICE_COLUMNS, sliceRows(top, embed, true), { caption: "Slices of mistakes found without group labels" })}
${
    rest.length > 0 &&
    safeHtml`<details class="more-slices"><summary>${rest.length} more slices</summary>
${table(SLICE_COLUMNS, sliceRows(rest, embed, true))}</details>`
  }`;
}

type Flag = NonNullable<BiasClass["flags"]>[number];

/** Flags in the order they are listed: findings of their own first, pulled-into before accuracy, then by adjusted p. */
export function flagOrder(a: Flag, b: Flag): number {
  const rank = (f: Flag) => 2 * Number(f.mirrorOf.length > 0) + Number(f.direction !== "into");
  return rank(a) - rank(b) || a.adjustedPValue - b.adjustedPValue;
}

/** One flag as a list item: what, the ratio (unbounded when the rest's rate is 0), adjusted p, and its diagnosis. */
export function flagItem(f: Flag, where: string, badged = false): SafeHtml {
  const ratio = f.ratio === null ? "unbounded: the rest at 0" : fixed(f.ratio, 2);
  const what = f.direction === "into"
    ? `${f.group} pulled into ${where} (rate ratio by label ${ratio})`
    : `${f.group} missed more on ${where} (error ratio ${ratio})`;
  const kind = badged && (f.mirrorOf.length > 0 ? badge("mirror", "info") : badge("finding", "bad"));
  return safeHtml`<li>${kind && safeHtml`${kind} `}${what}, adjusted p ${pValue(f.adjustedPValue)}${
    f.diagnosis !== null && safeHtml`<br><span class="diagnosis">${f.diagnosis}</span>`
  }</li>`;
}

function flagsBlock(bias: Bias): SafeHtml | null {
  const flags = bias.classes.flatMap((c) => (c.flags ?? []).map((f) => ({ c, f })));
  if (flags.length === 0) return null;
  const line = ({ c, f }: (typeof flags)[number]) => flagItem(f, c.name);
  flags.sort((a, b) => flagOrder(a.f, b.f));
  const own = flags.filter(({ f }) => f.mirrorOf.length === 0),
    mirrors = flags.filter(({ f }) => f.mirrorOf.length > 0);
  return safeHtml`<p><strong>Group flags:</strong> ${own.length} ${badge("finding", "bad")}, ${mirrors.length}
${badge("mirror", "info")} of another flag.</p>
<ul class="bias-flags">${joinHtml(own.map(line), "\n")}</ul>
${
    mirrors.length > 0 &&
    safeHtml`<details class="mirror-flags"><summary>${mirrors.length} mirror flags, explained</summary>
<ul class="bias-flags">${joinHtml(mirrors.map(line), "\n")}</ul></details>`
  }`;
}

function counterfactualBlock(bias: Bias, embed: Embed): SafeHtml | null {
  const t = bias.counterfactual;
  if (!t) return null;
  const byLabel = t.byLabel.filter((l) => l.flips > 0).map((l) => `${l.label}: ${l.flips}/${l.of}`).join(", ");
  return safeHtml`<p><strong>Counterfactual test</strong> <code>${JSON.stringify(t.spec)}</code>: the edit flips
${t.flips.count} of ${t.flips.of} images of other classes into ${t.name} (${pct(t.flips.rate)}, 95% CI
${pct(t.interval[0])}–${pct(t.interval[1])}); ${t.changed.count} predictions changed in all${
    t.unchanged ? safeHtml` (${t.unchanged} sampled images already carried the edit and were left out)` : ""
  }.${byLabel && safeHtml` Flips by true label: ${byLabel}.`}${
    t.examples.length > 0 && safeHtml` Flipped images: ${t.examples.map((i) => `#${i}`).join(", ")}.`
  }</p>
${t.grid && figure(img(embed(t.grid), "edited images that flipped"), "Edited images that flipped into the class.")}`;
}

/** The findings block, or null when the stage had neither slices, flags nor a counterfactual to show. */
export function biasFindings(bias: Bias, embed: Embed): SafeHtml | null {
  const parts = [counterfactualBlock(bias, embed), slicesBlock(bias, embed), flagsBlock(bias)].filter((p) =>
    p !== null
  );
  if (parts.length === 0) return null;
  return safeHtml`<div class="bias-findings"><h3>Findings</h3>
${joinHtml(parts, "\n")}</div>`;
}
