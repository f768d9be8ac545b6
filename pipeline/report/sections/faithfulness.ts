/**
 * The faithfulness section: the saliency methods ranked for this model by deletion and insertion
 * areas, faithfulness correlation and max-sensitivity, each a mean over the sampled images with
 * its bootstrap interval, which leader's interval clears the runner-up's, and the mean deletion
 * and insertion curves.
 *
 * @example
 * ```ts
 * import type { FaithfulnessReport } from "../../schema/faithfulness.ts";
 * declare const faithfulness: FaithfulnessReport;
 * const { id, body } = faithfulnessSection(faithfulness); // "faithfulness"
 * ```
 */
import { FAITHFULNESS_METRICS, type FaithfulnessMetric, type FaithfulnessReport } from "../../schema/faithfulness.ts";
import { type Column, figure, fixed, table } from "../markup.ts";
import { perturbationCurvesSvg, seriesLegend } from "../plots.ts";
import { joinHtml, type SafeHtml, safeHtml } from "../safe_html.ts";
import type { Section } from "./section.ts";

type Method = FaithfulnessReport["methods"][number];
type Interval = Method[FaithfulnessMetric];

const TITLES: Record<FaithfulnessMetric, string> = {
  deletion: "deletion AUC",
  insertion: "insertion AUC",
  correlation: "faithfulness correlation",
  sensitivity: "max-sensitivity",
};

/** "0.123 [0.100, 0.150]"; "–" without a value. */
function withInterval(v: Interval): string {
  return v === null ? "–" : `${fixed(v.mean)} [${fixed(v.lo)}, ${fixed(v.hi)}]`;
}

/** Per metric: the leader, and whether its interval clears the runner-up's. */
function leaders(methods: readonly Method[]): SafeHtml {
  const lines = (Object.keys(FAITHFULNESS_METRICS) as FaithfulnessMetric[]).flatMap((metric) => {
    const order = [...methods].filter((m) => m[metric] !== null).sort((a, b) => a.ranks[metric] - b.ranks[metric]);
    if (order.length === 0) return [];
    const [best, next] = [order[0][metric]!, order[1]?.[metric]];
    const lowerIsBetter = FAITHFULNESS_METRICS[metric] === "lower";
    const clear = next && (lowerIsBetter ? best.hi < next.lo : best.lo > next.hi);
    const verdict = !next
      ? ""
      : clear
      ? `, its interval clear of ${order[1].method}'s`
      : `, its interval overlapping ${order[1].method}'s: not separated on these images`;
    return [
      safeHtml`<li>${TITLES[metric]} (${lowerIsBetter ? "lower" : "higher"} is better): ${
        order[0].method
      }${verdict}</li>`,
    ];
  });
  return safeHtml`<ul>${joinHtml(lines, "\n")}</ul>`;
}

/** The faithfulness section of a report that measured it. */
export function faithfulnessSection(f: FaithfulnessReport): Section {
  const metrics = Object.keys(FAITHFULNESS_METRICS) as FaithfulnessMetric[];
  const columns: Column[] = [
    { title: "rank", numeric: true },
    { title: "method" },
    ...metrics.map((metric) => ({ title: TITLES[metric], numeric: true })),
  ];
  const rows = f.methods.map((m) => [
    String(m.rank),
    m.method,
    ...metrics.map((metric) => `${withInterval(m[metric])} (${m.ranks[metric]})`),
  ]);
  const curves = (key: "deletionCurve" | "insertionCurve") =>
    f.methods.map((m) => ({ method: m.method, probabilities: m[key] }));
  const legend = seriesLegend(f.methods.map((m) => m.method));
  const level = Math.round(f.interval.level * 100);
  return {
    id: "faithfulness",
    title: "Faithfulness",
    body: safeHtml`<p>Does each saliency map point at what the model uses? Measured on ${f.images} images (a seeded
sample; means with ${level}% percentile-bootstrap intervals over the images, ${f.interval.resamples} resamples), best
first by the mean of the four ranks. <b>Deletion</b>: pixels set to black in the map's order, most important first, in
${f.steps} steps; the area under the explained class's probability (lower: the map found what the answer rests on).
<b>Insertion</b>: the same order restoring the image from a blur (sigma ${fixed(f.blurSigma, 1)} px; higher is better).
<b>Faithfulness correlation</b> (Bhatt et al. 2020): over ${f.subsets} random sets of ${f.subsetSize} pixels set to black,
the Pearson correlation of the map's sum over the set with the drop of the class's logit (higher is better).
<b>Max-sensitivity</b> (Yeh et al. 2019): the largest relative change of the map over ${f.sensitivitySamples} random
perturbations within ${fixed(f.sensitivityRadius, 3)} of the image in every value (lower is steadier).</p>
${leaders(f.methods)}
${
      table(columns, rows, {
        id: "faithfulness-table",
        keys: f.methods.map((m) => m.method),
        caption: `Mean [${level}% interval] (rank among the methods) of each metric.`,
      })
    }
<div class="cols">
${
      figure(
        perturbationCurvesSvg(curves("deletionCurve"), f.fractions, "deleted"),
        safeHtml`${legend}<br>Deletion: mean probability of the explained class.`,
      )
    }
${
      figure(
        perturbationCurvesSvg(curves("insertionCurve"), f.fractions, "inserted"),
        safeHtml`${legend}<br>Insertion: mean probability of the explained class.`,
      )
    }
</div>`,
  };
}
