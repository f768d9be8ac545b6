/**
 * The sanity checks section (Adebayo et al. 2018): the verdict of every saliency method per test
 * (cascading and independent parameter randomisation, and the data randomisation test when the
 * audit had a random-label model) with bootstrap intervals, the cascade's rank correlation per
 * stage, the figure of the maps, and Integrated Gradients' completeness gap per image. A report
 * written before the verdicts shows the cascade alone, judged as it was then.
 *
 * @example
 * ```ts
 * import type { Explanations } from "./section.ts";
 * declare const sanity: NonNullable<Explanations["sanity"]>;
 * const { id, body } = sanitySection(sanity, (path) => ({ src: path, width: 32, height: 32 })); // "sanity"
 * ```
 */
import { type Column, figure, fixed, img, table } from "../markup.ts";
import { sanitySvg, seriesLegend } from "../plots.ts";
import { joinHtml, type SafeHtml, safeHtml } from "../safe_html.ts";
import type { Embed, Explanations, Section } from "./section.ts";

type Sanity = NonNullable<Explanations["sanity"]>;
type Verdict = NonNullable<Sanity["verdict"]>;

/** Rank correlation above which maps of the fully randomised model counted as "still the same" (older reports). */
const SANITY_FAILS_ABOVE = 0.5;

/** Methods whose attribution is the gradient multiplied by the input (minus a baseline). */
const INPUT_TIMES = new Set(["gradientInput", "integratedGradients"]);

const MEASURES = [
  { key: "spearman", title: "rank corr." },
  { key: "absSpearman", title: "|rank corr.|" },
  { key: "ssim", title: "SSIM" },
  { key: "hog", title: "HOG corr." },
] as const;

const TEST_NAMES = {
  cascading: "cascading (all layers random)",
  independent: "independent (mean over layers)",
  data: "data (random-label model)",
} as const;

/** The judgement of a report written before the verdicts: the last cascade stage's rank correlation. */
function cascadeOnlyVerdict(sanity: Sanity): SafeHtml {
  const last = (m: (typeof sanity.methods)[number]) => m.stages[m.stages.length - 1].spearman;
  const failing = sanity.methods.filter((m) => last(m) > SANITY_FAILS_ABOVE);
  if (failing.length === 0) return safeHtml`<p>Every method's maps change once the model is randomised: all pass.</p>`;
  const names = joinHtml(failing.map((m) => `${m.method} (${fixed(last(m), 2)})`), ", ");
  return safeHtml`<p class="warnings">Fails the check: ${names} &mdash; rank correlation above ${SANITY_FAILS_ABOVE} with every
layer randomised, so these maps mostly show the input image, not what the model learned.</p>`;
}

/** For a method failing the independent test: the layer whose randomisation alone changed its maps least. */
function leastChanged(sanity: Sanity, method: string): string {
  const stages = sanity.similarity?.find((m) => m.method === method)?.independent ?? [];
  if (stages.length === 0) return "";
  const worst = stages.reduce((a, b) => (b.mean.absSpearman > a.mean.absSpearman ? b : a));
  return ` (least changed by randomising ${worst.layer} alone: ${fixed(worst.mean.absSpearman, 2)})`;
}

/** Says in words which methods fail which tests, and why the input-multiplied ones do. */
function verdictWords(sanity: Sanity, verdict: Verdict): SafeHtml {
  const failing = verdict.verdicts.filter((v) => !v.passes);
  if (failing.length === 0) return safeHtml`<p>Every method passes every test.</p>`;
  const methods = [...new Set(failing.map((v) => v.method))];
  const lines = methods.map((method) => {
    const tests = failing.filter((v) => v.method === method);
    const worst = tests.map((v) =>
      `${v.test}: |rank corr.| ${fixed(v.measures.absSpearman.mean, 2)}${
        v.test === "independent" ? leastChanged(sanity, method) : ""
      }`
    ).join("; ");
    const why = INPUT_TIMES.has(method)
      ? " Its map is the gradient multiplied by the input, so wherever the image is black the map is 0 whatever the " +
        "model: the maps show the input, not what the model learned."
      : "";
    return safeHtml`<li><b>${method}</b> fails ${tests.map((v) => v.test).join(", ")} (${worst}).${why}</li>`;
  });
  return safeHtml`<p class="warnings">Methods whose maps stay similar to the trained model's when the model or its
training labels are randomised do not explain what the model learned:</p><ul>${lines}</ul>`;
}

/** The verdict table: a row per method and test, each measure's mean and interval, pass or fail. */
function verdictTable(verdict: Verdict): SafeHtml {
  const columns: Column[] = [
    { title: "method" },
    { title: "test" },
    ...MEASURES.map((m) => ({ title: m.title, numeric: true })),
    { title: "verdict" },
  ];
  const rows = verdict.verdicts.map((v) => [
    v.method,
    TEST_NAMES[v.test],
    ...MEASURES.map(({ key }) => {
      const m = v.measures[key];
      const mark = m.passes ? "" : " ✗";
      return `${fixed(m.mean, 2)} [${fixed(m.low, 2)}, ${fixed(m.high, 2)}]${mark}`;
    }),
    v.passes ? "passes" : "fails",
  ]);
  return table(columns, rows, {
    caption: safeHtml`Mean similarity to the trained model's maps over the images, with a ${
      Math.round(verdict.level * 100)
    }% percentile bootstrap interval (${verdict.resamples} resamples). A measure passes (no ✗) when the interval's
upper bound is below ${verdict.threshold}; a method passes a test when every measure does.`,
  });
}

/** Each layer randomised alone: the mean |rank correlation| per method. */
function independentTable(similarity: NonNullable<Sanity["similarity"]>): SafeHtml {
  const layers = similarity[0]?.independent.map((s) => s.layer) ?? [];
  const columns: Column[] = [{ title: "method" }, ...layers.map((l) => ({ title: l, numeric: true }))];
  const rows = similarity.map((m) => [m.method, ...m.independent.map((s) => fixed(s.mean.absSpearman, 2))]);
  return table(columns, rows, {
    caption: "Independent randomisation: |rank correlation| with the trained model's maps, one layer random at a time.",
  });
}

/** Integrated Gradients' completeness per image. */
function completenessTable(gaps: NonNullable<Sanity["completeness"]>): SafeHtml {
  const columns: Column[] = [
    { title: "image" },
    { title: "sum of attributions", numeric: true },
    { title: "f(x) − f(baseline)", numeric: true },
    { title: "gap", numeric: true },
    { title: "relative gap", numeric: true },
  ];
  const rows = gaps.map((g) => [
    g.index,
    fixed(g.attributionSum, 4),
    fixed(g.scoreDifference, 4),
    fixed(g.gap, 4),
    g.relativeGap === null ? "—" : `${fixed(100 * g.relativeGap, 2)}%`,
  ]);
  const worst = Math.max(...gaps.map((g) => g.relativeGap ?? 0));
  return safeHtml`<p>Integrated Gradients' completeness: its attributions should sum to the explained logit's change
from the baseline, f(x) − f(baseline). The Riemann sum misses the ReLU kinks along the path; the largest relative
gap here is ${fixed(100 * worst, 2)}%.</p>
${table(columns, rows)}`;
}

/**
 * The sanity checks section, for a report whose explanations include them.
 *
 * @example
 * ```ts
 * import type { AuditReport } from "../../schema/report.ts";
 * import type { Embed } from "./section.ts";
 * declare const report: AuditReport;
 * declare const embed: Embed;
 * const sanity = report.explanations?.sanity;
 * const section = sanity ? sanitySection(sanity, embed) : null;
 * ```
 */
export function sanitySection(sanity: Sanity, embed: Embed): Section {
  const stages = sanity.methods[0]?.stages ?? [];
  const columns: Column[] = [
    { title: "method" },
    ...stages.map((s) => ({ title: s.layer ?? "trained", numeric: true })),
  ];
  const rows = sanity.methods.map((m) => [m.method, ...m.stages.map((s) => fixed(s.spearman, 2))]);
  const model = sanity.randomLabelModel;
  const data = model
    ? safeHtml` The data randomisation test compares them with the maps of ${model.name} (${model.path}), a model of the
same inputs and classes trained on shuffled labels${
      model.accuracy === null
        ? ""
        : safeHtml` (its manifest records a test accuracy of ${fixed(100 * model.accuracy, 1)}%)`
    }.`
    : sanity.verdict
    ? safeHtml` No data randomisation test: the audit was given no random-label model (<code>--sanity-random-model</code>).`
    : "";
  const sample = sanity.indices ? safeHtml` (a seeded sample: images ${sanity.indices.join(", ")})` : "";
  return {
    id: "sanity",
    title: "Sanity checks",
    body: safeHtml`<p>Sanity checks (Adebayo et al. 2018) over ${sanity.images} images${sample}: the model's layers
are randomised, cumulatively from the top (${joinHtml(sanity.layers, " → ")})${
      sanity.verdict ? " and one at a time" : ""
    }, and each saliency map is compared with the trained model's.${data} A method whose maps stay similar does not
explain what the model learned.</p>
${sanity.verdict ? verdictWords(sanity, sanity.verdict) : cascadeOnlyVerdict(sanity)}
${sanity.verdict ? verdictTable(sanity.verdict) : ""}
<div class="cols">
${
      figure(
        sanitySvg(sanity.methods),
        safeHtml`${
          seriesLegend(sanity.methods.map((m) => m.method))
        }<br>Rank correlation of the absolute maps with the trained model's, per cascade stage.`,
      )
    }
${
      figure(
        img(embed(sanity.figure), "saliency maps per method and randomisation stage"),
        sanity.verdict
          ? "First row: the image; then a row per method: the trained model's map, each cascade stage, each layer " +
            `randomised alone${model ? ", the random-label model's map" : ""}.`
          : "First row: the image; then a row per method, a column per stage.",
      )
    }
</div>
${table(columns, rows, { caption: "Cascading randomisation: |rank correlation| per stage." })}
${sanity.similarity ? independentTable(sanity.similarity) : ""}
${sanity.completeness && sanity.completeness.length > 0 ? completenessTable(sanity.completeness) : ""}`,
  };
}
