/**
 * The sections of the HTML report, one function each, from an audit report to an HTML fragment.
 * Every string from the model, the data or the report is escaped here; images come as data URIs
 * from `embed`, so a section never touches the file system.
 *
 * @example
 * ```ts
 * const sections = reportSections(report, (path) => dataUris.get(path)!);
 * const nav = sections.map((s) => `<a href="#${s.id}">${s.title}</a>`).join("");
 * ```
 */
import type { AuditReport } from "../schema/report.ts";
import type { BiasClass } from "../schema/bias.ts";
import { escapeHtml as h } from "./escape.ts";
import { badge, type Column, figure, fixed, img, pct, pValue, table } from "./markup.ts";
import {
  confusionSvg,
  minEpsilonHistogramSvg,
  reliabilitySvg,
  robustnessSvg,
  sanitySvg,
  seriesLegend,
} from "./plots.ts";

/** A report-relative asset path to a data URI of its bytes. */
export type Embed = (path: string) => string;

/** One section of the page: its anchor, its title in the navigation, and its HTML. */
export interface Section {
  id: string;
  title: string;
  body: string;
}

type Explanations = NonNullable<AuditReport["explanations"]>;
type Mistake = AuditReport["mistakes"]["items"][number];

/** Beyond this many classes the confusion heatmap shows only the most confused ones. */
const CONFUSION_CLASSES = 30;
/** The mistakes table lists at most this many, most confident first. */
const MISTAKE_ROWS = 500;
const SHA_PREFIX = 12;
const SOFTWARE_ADAPTER = /llvmpipe|lavapipe|swiftshader|warp|software/i;

/** A class's name, escaped; the index when the model has no such class. */
function className(report: AuditReport, label: number): string {
  return h(report.model.classes[label] ?? `class ${label}`);
}

/** A two-column table of names and values (values are HTML). */
function facts(rows: [string, string][]): string {
  return `<table class="facts"><tbody>${
    rows.map(([k, v]) => `<tr><th scope="row">${k}</th><td>${v}</td></tr>`).join("\n")
  }</tbody></table>`;
}

function stat(label: string, value: string, note = ""): string {
  return `<div class="stat"><div class="stat-value">${value}</div><div class="stat-label">${label}</div>${
    note ? `<div class="stat-note">${note}</div>` : ""
  }</div>`;
}

function adapterText(report: AuditReport): string {
  const { description, vendor, architecture, isFallbackAdapter } = report.adapter;
  const detail = [vendor, architecture].filter(Boolean).map(h).join(", ");
  const software = isFallbackAdapter || SOFTWARE_ADAPTER.test(description);
  // Timings on a CPU rasteriser say nothing about GPU speed: say so next to them.
  const note = software ? ` ${badge(isFallbackAdapter ? "fallback adapter" : "software renderer", "warn")}` : "";
  return `${h(description)}${detail ? ` <span class="muted">(${detail})</span>` : ""}${note}`;
}

function mistakeBadges(m: Mistake, lowMargin: number): string {
  return [
    m.labelInTop5 ? badge("label in top-5", "info") : "",
    m.sameSuperclass ? badge("same superclass", "info") : "",
    m.lowMargin ? badge(`low margin (< ${lowMargin})`, "warn") : "",
    !m.labelInTop5 && !m.sameSuperclass && !m.lowMargin ? badge("unexplained", "bad") : "",
  ].filter(Boolean).join(" ");
}

function reviewFacts(review: NonNullable<AuditReport["review"]>): string {
  const judged = (["mistakes", "adversarial"] as const).map((kind) => {
    const j = review[kind];
    return [kind, String(j.judged), String(j.acceptable), String(j.notAcceptable), String(j.labelWrong)];
  });
  return `<div id="review" class="block"><h3>Human review</h3>
<div class="cols">${
    facts([
      ["human-rectified top-1", pct(review.rectifiedTop1)],
      ["rectified robustness", pct(review.rectifiedRobustness)],
      ["accepted, with explanation", pct(review.agreement.withExplanation)],
      ["accepted, without explanation", pct(review.agreement.withoutExplanation)],
      ["judgment lines", `${review.lines} (${review.malformedLines} malformed, skipped)`],
    ])
  }
${
    table([
      { title: "judged items" },
      { title: "judged", numeric: true },
      { title: "acceptable", numeric: true },
      { title: "not acceptable", numeric: true },
      { title: "label wrong", numeric: true },
    ], judged)
  }</div></div>`;
}

function summarySection(report: AuditReport): Section {
  const { accuracy: a, mistakes: m, robustness: r, bias, model } = report;
  const epsilons = r.curve.map((p) => `<th class="num">${p.epsilon}</th>`).join("");
  const accuracies = r.curve.map((p) => `<td class="num">${pct(p.accuracy)}</td>`).join("");
  const median = r.minEpsilon?.median ?? null;
  const flagged = bias?.classes.filter((c) => c.flagged) ?? [];
  const biasText = bias === null
    ? `<p class="muted">Bias stage skipped.</p>`
    : flagged.length === 0
    ? `<p>No class flagged.</p>`
    : `<ul class="flagged">${
      flagged.map((c) =>
        `<li data-class="${c.label}"><span class="name">${h(c.name)}</span> <span class="muted">(groups: ${
          c.flaggedGroups.map(h).join(", ")
        })</span></li>`
      ).join("")
    }</ul>`;
  const timings = Object.entries(report.timings).map(([stage, s]) => [h(stage), s.toFixed(2)]);
  const body = `<div class="stats">
${stat("top-1", pct(a.top1))}
${stat("top-5", pct(a.top5))}
${stat("rectified top-1", pct(a.rectifiedTop1), `same superclass counted right (depth ${m.superclassDepth})`)}
${stat("ECE", fixed(a.ece), "15 bins")}
${stat("mistakes", String(m.count), `of ${a.count} images`)}
</div>
<div class="cols">
${
    facts([
      ["model", `${h(model.name)} <code title="sha256">${h(model.sha256.slice(0, SHA_PREFIX))}</code>`],
      ["model path", `<code>${h(model.path)}</code>`],
      ["classes", String(model.classes.length)],
      ["data", `${h(report.data.name)}, ${report.data.count} images`],
      ["adapter", adapterText(report)],
      ["hierarchy", h(report.config.hierarchy)],
      ["created", h(report.createdAt)],
    ])
  }
${
    table([{ title: "mistake taxonomy" }, { title: "images", numeric: true }], [
      ["label in top-5", String(m.counts.labelInTop5)],
      [`same superclass (depth ${m.superclassDepth})`, String(m.counts.sameSuperclass)],
      [`low margin (&lt; ${m.lowMarginThreshold})`, String(m.counts.lowMargin)],
      ["none of these", String(m.counts.unexplained)],
    ])
  }
</div>
<div class="block"><h3>Robustness (${r.attack.toUpperCase()}${
    r.attacked < report.accuracy.count ? `, seeded sample of ${r.attacked} images` : ""
  })</h3>
<table class="wide"><thead><tr><th>epsilon</th>${epsilons}</tr></thead><tbody><tr><th scope="row">accuracy</th>${accuracies}</tr></tbody></table>
<p>Median smallest flipping epsilon: <strong>${median === null ? "–" : median.toFixed(4)}</strong>${
    r.minEpsilon ? ` <span class="muted">(${r.minEpsilon.flipped} flipped, ${r.minEpsilon.notFlipped} not)</span>` : ""
  }</p></div>
<div class="block"><h3>Flagged bias classes</h3>${biasText}</div>
<div class="block"><h3>Warnings</h3>${
    r.warnings.length === 0
      ? `<p class="muted">None.</p>`
      : `<ul class="warnings">${r.warnings.map((w) => `<li>${h(w)}</li>`).join("")}</ul>`
  }</div>
${report.review ? reviewFacts(report.review) : ""}
<div class="block"><h3>Timings</h3>${table([{ title: "stage" }, { title: "seconds", numeric: true }], timings)}</div>`;
  return { id: "summary", title: "Summary", body };
}

/** The classes the heatmap shows: all, or the most confused (off-diagonal row + column sums). */
function confusedClasses(confusion: number[][]): number[] {
  const all = confusion.map((_, i) => i);
  if (all.length <= CONFUSION_CLASSES) return all;
  const off = all.map((i) => confusion.reduce((s, row, j) => s + (i === j ? 0 : row[i] + confusion[i][j]), 0));
  return all.sort((a, b) => off[b] - off[a] || a - b).slice(0, CONFUSION_CLASSES).sort((a, b) => a - b);
}

function accuracySection(report: AuditReport): Section {
  const a = report.accuracy;
  const rows = a.perClass.map((c) => [
    String(c.label),
    h(c.name),
    String(c.count),
    String(c.correct),
    `${pct(c.accuracy)}<span class="bar" style="width:${Math.round(100 * (c.accuracy ?? 0))}%"></span>`,
  ]);
  const perClass = table(
    [
      { title: "#", numeric: true },
      { title: "class", cell: "name" },
      { title: "images", numeric: true },
      { title: "correct", numeric: true },
      { title: "accuracy", numeric: true, cell: "accuracy" },
    ],
    rows,
    { id: "per-class", keys: a.perClass.map((c) => c.label) },
  );
  const shown = confusedClasses(a.confusion);
  const partial = shown.length < a.confusion.length
    ? ` Showing the ${shown.length} most confused of ${a.confusion.length} classes.`
    : "";
  return {
    id: "accuracy",
    title: "Accuracy",
    body: `<p>Top-1 <strong>${pct(a.top1)}</strong>, top-5 <strong>${pct(a.top5)}</strong>, mean confidence ${
      pct(a.meanConfidence)
    }, expected calibration error ${fixed(a.ece)}.</p>
<div class="cols">
<div class="block"><h3>Per class</h3>${perClass}</div>
<div class="block"><h3>Calibration</h3>${
      figure(
        reliabilitySvg(a.calibration),
        "Accuracy per confidence bin; the dashed diagonal is perfect calibration.",
      )
    }</div>
</div>
<div class="block"><h3>Confusion matrix</h3>${
      figure(
        confusionSvg(a.confusion, report.model.classes, shown),
        `Rows: true label; columns: prediction; cells: image counts.${partial}`,
      )
    }</div>`,
  };
}

function mistakesTable(report: AuditReport): string {
  const { items, lowMarginThreshold } = report.mistakes;
  const shown = [...items].sort((x, y) => y.confidence - x.confidence).slice(0, MISTAKE_ROWS);
  const rows = shown.map((m) => [
    String(m.index),
    className(report, m.label),
    className(report, m.predicted),
    pct(m.confidence),
    fixed(m.margin),
    m.top.map((c) => className(report, c)).join(", "),
    mistakeBadges(m, lowMarginThreshold),
  ]);
  const note = shown.length < items.length
    ? `<p class="muted">The ${shown.length} most confident of ${items.length} mistakes.</p>`
    : "";
  return note + table(
    [
      { title: "image", numeric: true },
      { title: "label" },
      { title: "predicted" },
      { title: "confidence", numeric: true },
      { title: "margin", numeric: true },
      { title: "top-5" },
      { title: "taxonomy" },
    ],
    rows,
    { id: "mistakes-table", keys: shown.map((m) => m.index) },
  );
}

function mistakeCards(report: AuditReport, explanations: Explanations, embed: Embed): string {
  const items = new Map(report.mistakes.items.map((m) => [m.index, m]));
  const cards = explanations.mistakes.map((shown) => {
    const item = items.get(shown.index);
    const label = className(report, shown.label);
    const predicted = className(report, shown.predicted);
    return `<article class="card mistake" data-index="${shown.index}">
<div class="pair">${img(embed(shown.image), `image ${shown.index}`)}${
      img(embed(shown.saliency), `${explanations.method} saliency of image ${shown.index}`)
    }</div>
<dl><dt>label</dt><dd>${label}</dd><dt>predicted</dt><dd>${predicted} <span class="num">${
      pct(shown.confidence)
    }</span></dd>${item ? `<dt>top-5</dt><dd>${item.top.map((c) => className(report, c)).join(", ")}</dd>` : ""}</dl>
<p class="badges">${item ? mistakeBadges(item, report.mistakes.lowMarginThreshold) : ""}</p>
<p class="muted">image #${shown.index}</p>
</article>`;
  });
  return `<div class="cards">${cards.join("\n")}</div>`;
}

function mistakesSection(report: AuditReport, embed: Embed): Section {
  const { count, counts } = report.mistakes;
  const e = report.explanations;
  const intro = `<p>${count} mistakes among ${report.accuracy.count} images: label in top-5 ${counts.labelInTop5}, ` +
    `same superclass ${counts.sameSuperclass}, low margin ${counts.lowMargin}, none of these ${counts.unexplained}.</p>`;
  const body = e
    ? `${intro}<p class="muted">The most confident mistakes, each with its ${h(e.method)} saliency.</p>
${mistakeCards(report, e, embed)}
<details><summary>All mistakes</summary>${mistakesTable(report)}</details>`
    : `${intro}${mistakesTable(report)}`;
  return { id: "mistakes", title: "Mistakes", body };
}

function adversarialCards(report: AuditReport, explanations: Explanations, embed: Embed): string {
  const cards = explanations.adversarial.map((pair) => {
    const from = className(report, pair.clean.predicted);
    const to = className(report, pair.adversarial.predicted);
    return `<article class="card adversarial" data-index="${pair.index}">
<div class="quad">${img(embed(pair.clean.image), `image ${pair.index}`)}${
      img(embed(pair.clean.saliency), `saliency of image ${pair.index}`)
    }${img(embed(pair.adversarial.image), `adversarial image ${pair.index}`)}${
      img(embed(pair.adversarial.saliency), `saliency of adversarial image ${pair.index}`)
    }</div>
<p><span class="from">${from}</span> <span class="muted">${
      pct(pair.clean.confidence)
    }</span> → <span class="to">${to}</span> <span class="muted">${pct(pair.adversarial.confidence)}</span></p>
<p class="muted">label ${
      className(report, pair.label)
    } · ${pair.attack.toUpperCase()}, epsilon ${pair.epsilon} · image #${pair.index}</p>
</article>`;
  });
  return `<div class="cards wide-cards">${cards.join("\n")}</div>`;
}

function robustnessSection(report: AuditReport, embed: Embed): Section {
  const { robustness: r, config } = report;
  const curves = [{ name: "FGSM", points: r.fgsm }, ...(r.pgd ? [{ name: "PGD", points: r.pgd }] : [])];
  const rows = r.curve.map((p, i) => [
    String(p.epsilon),
    pct(r.fgsm[i]?.accuracy ?? null),
    ...(r.pgd ? [pct(r.pgd[i]?.accuracy ?? null)] : []),
    String(p.flips),
    pct(p.successRate),
    pct(p.sameSuperclassShare),
  ]);
  const columns: Column[] = [
    { title: "epsilon", numeric: true },
    { title: "FGSM accuracy", numeric: true },
    ...(r.pgd ? [{ title: "PGD accuracy", numeric: true }] : []),
    { title: `${r.attack.toUpperCase()} flips`, numeric: true },
    { title: "success rate", numeric: true },
    { title: "same superclass", numeric: true },
  ];
  const flips = report.images.flatMap((im) => (im.minEpsilon === null ? [] : [im.minEpsilon]));
  const m = r.minEpsilon;
  const minEpsilon = m === null
    ? `<p class="muted">Smallest flipping epsilon not computed.</p>`
    : flips.length === 0
    ? `<p>No image flipped within the sweep.</p>`
    : figure(
      minEpsilonHistogramSvg(flips),
      `Smallest ${m.attack.toUpperCase()} epsilon that flips each correctly classified image (bisection to ${m.resolution}); ` +
        `median ${m.median === null ? "–" : m.median.toFixed(4)}, ${m.notFlipped} not flipped within the sweep.`,
    );
  const pairs = report.explanations && report.explanations.adversarial.length > 0
    ? `<div class="block" id="adversarial"><h3>Adversarial examples</h3>
<p class="muted">Each: the image and its saliency, then the attacked image and its saliency, at the smallest swept epsilon that flips it.</p>
${adversarialCards(report, report.explanations, embed)}</div>`
    : "";
  return {
    id: "robustness",
    title: "Robustness",
    body:
      `<p>Attacks under an L-infinity budget; PGD: ${config.pgd.steps} steps of ${config.pgd.stepFraction} × epsilon${
        config.pgd.randomStart ? ", random start" : ""
      }. ${
        r.attacked < report.accuracy.count
          ? `Attacks ran on a seeded sample of ${r.attacked} of ${report.accuracy.count} images. `
          : ""
      }${r.zeroGradients} images (${pct(r.zeroGradientShare)}) have an all-zero input gradient.</p>
<div class="cols">
${figure(robustnessSvg(curves), `${seriesLegend(curves.map((c) => c.name))}<br>Accuracy versus epsilon.`)}
<div class="block">${
        table(columns, rows)
      }<p class="muted">Same superclass: share of flips landing in the label's superclass.</p></div>
</div>
<div class="block"><h3>Smallest flipping epsilon</h3>${minEpsilon}</div>
${pairs}`,
  };
}

function sanitySection(sanity: NonNullable<Explanations["sanity"]>, embed: Embed): Section {
  const stages = sanity.methods[0]?.stages ?? [];
  const columns: Column[] = [
    { title: "method" },
    ...stages.map((s) => ({ title: s.layer === null ? "trained" : h(s.layer), numeric: true })),
  ];
  const rows = sanity.methods.map((m) => [h(m.method), ...m.stages.map((s) => fixed(s.spearman, 2))]);
  return {
    id: "sanity",
    title: "Sanity checks",
    body: `<p>Cascading randomisation (Adebayo et al.) over ${sanity.images} images: layers are randomised from the top
(${sanity.layers.map(h).join(" → ")}) and each saliency map is compared with the trained model's by Spearman rank
correlation. A method whose maps stay similar does not explain what the model learned.</p>
${sanityVerdict(sanity)}
<div class="cols">
${
      figure(
        sanitySvg(sanity.methods),
        `${
          seriesLegend(sanity.methods.map((m) => m.method))
        }<br>Spearman correlation with the trained model's maps, per cascade stage.`,
      )
    }
${
      figure(
        img(embed(sanity.figure), "saliency maps per method and cascade stage"),
        "First row: the image; then a row per method, a column per stage.",
      )
    }
</div>
${table(columns, rows)}`,
  };
}

/** Rank correlation above which maps of the fully randomised model count as "still the same". */
const SANITY_FAILS_ABOVE = 0.5;

/** Names the methods whose maps survive randomising every layer: they show the input, not the model. */
function sanityVerdict(sanity: NonNullable<Explanations["sanity"]>): string {
  const last = (m: (typeof sanity.methods)[number]) => m.stages[m.stages.length - 1].spearman;
  const failing = sanity.methods.filter((m) => last(m) > SANITY_FAILS_ABOVE);
  if (failing.length === 0) return `<p>Every method's maps change once the model is randomised: all pass.</p>`;
  const names = failing.map((m) => `${h(m.method)} (${fixed(last(m), 2)})`).join(", ");
  return `<p class="warnings">Fails the check: ${names} &mdash; rank correlation above ${SANITY_FAILS_ABOVE} with every
layer randomised, so these maps mostly show the input image, not what the model learned.</p>`;
}

function biasClass(c: BiasClass, embed: Embed): string {
  const example = (e: { index: number; group?: string }) =>
    `#${e.index}${e.group === undefined ? "" : ` <span class="muted">(${h(e.group)})</span>`}`;
  const groups = c.groups && c.groups.length > 0
    ? table(
      [
        { title: "group" },
        { title: "in pool", numeric: true },
        { title: "pool share", numeric: true },
        { title: "prototype share", numeric: true },
        { title: "into class", numeric: true },
        { title: "rest into class", numeric: true },
        { title: "rate ratio", numeric: true },
        { title: "p", numeric: true },
        { title: "adjusted p", numeric: true },
      ],
      c.groups.map((g) => [
        h(g.group),
        String(g.poolCount),
        pct(g.poolShare),
        pct(g.prototypeShare),
        `${g.intoClass.count}/${g.intoClass.of} (${pct(g.intoClass.rate)})`,
        `${g.restIntoClass.count}/${g.restIntoClass.of} (${pct(g.restIntoClass.rate)})`,
        fixed(g.rateRatio, 2),
        pValue(g.pValue),
        pValue(g.adjustedPValue),
      ]),
      { caption: "Group findings" },
    )
    : "";
  const mmd = c.mmd && c.mmd.length > 0
    ? table(
      [
        { title: "groups" },
        { title: "sizes", numeric: true },
        { title: "MMD² (biased)", numeric: true },
        { title: "MMD² (unbiased)", numeric: true },
        { title: "sigma", numeric: true },
        { title: "p", numeric: true },
        { title: "permutations", numeric: true },
      ],
      c.mmd.map((t) => [
        `${h(t.groups[0])} vs ${h(t.groups[1])}`,
        `${t.sizes[0]} / ${t.sizes[1]}`,
        fixed(t.biased, 4),
        fixed(t.unbiased, 4),
        fixed(t.sigma, 3),
        pValue(t.pValue),
        String(t.permutations),
      ]),
      { caption: "MMD two-sample tests" },
    )
    : "";
  const flag = c.flagged ? ` ${badge("flagged", "bad")} ${c.flaggedGroups.map((g) => badge(g, "warn")).join(" ")}` : "";
  return `<article class="bias-class${c.flagged ? " flagged" : ""}" data-class="${c.label}">
<h3><span class="name">${h(c.name)}</span> <span class="muted">#${c.label}</span>${flag}</h3>
<p>${c.poolSize} images predicted as this class${c.sigma === null ? "" : `; RBF sigma ${fixed(c.sigma, 3)}`}.</p>
${
    c.grid
      ? figure(
        img(embed(c.grid), `prototypes and criticisms of ${c.name}`),
        "Prototypes, then criticisms, then (when computed) the prototypes' mean saliency.",
      )
      : ""
  }
<p><strong>Prototypes:</strong> ${c.prototypes.map(example).join(", ") || "none"}<br>
<strong>Criticisms:</strong> ${
    c.criticisms.map((e) => `${example(e)} <span class="muted">witness ${fixed(e.witness, 3)}</span>`).join(", ") ||
    "none"
  }</p>
${groups}
${mmd}
</article>`;
}

function biasSection(bias: NonNullable<AuditReport["bias"]>, embed: Embed): Section {
  const s = bias.settings;
  // Flagged classes first: they are what the reader came for.
  const classes = [...bias.classes].sort((a, b) => Number(b.flagged) - Number(a.flagged) || a.label - b.label);
  return {
    id: "bias",
    title: "Biases",
    body: `<p class="settings">MMD-critic in the features of node <code>${
      h(s.featureNode)
    }</code>, per predicted class: prototypes
${s.prototypes}, criticisms ${s.criticisms}. ${
      s.comparisons === 0
        ? "No group metadata was given (<code>--groups FILE</code>), so no class can be flagged."
        : `MMD tests with ${s.permutations} permutations. A class is flagged when a group is predicted into it at least
${s.rateRatio}× as often as the other groups, with p &lt; ${s.alpha} over ${s.comparisons} comparisons
(${h(s.significance)}).`
    }</p>
${classes.map((c) => biasClass(c, embed)).join("\n")}`,
  };
}

/**
 * The report's sections in page order, summary first; those without data (no explanations, no bias
 * stage) are left out.
 *
 * @example
 * ```ts
 * const ids = reportSections(report, embed).map((s) => s.id); // ["summary", "accuracy", ...]
 * ```
 */
export function reportSections(report: AuditReport, embed: Embed): Section[] {
  const sanity = report.explanations?.sanity ?? null;
  return [
    summarySection(report),
    accuracySection(report),
    mistakesSection(report, embed),
    robustnessSection(report, embed),
    ...(sanity ? [sanitySection(sanity, embed)] : []),
    ...(report.bias ? [biasSection(report.bias, embed)] : []),
  ];
}
