/**
 * The report's charts as inline SVG markup: Observable Plot drawing into a linkedom document, so
 * no browser is needed. Text (class and layer names) reaches the SVG as DOM text nodes, which the
 * serializer escapes: that is why a chart's markup is trusted (`raw`) as it is.
 *
 * @example
 * ```ts
 * import type { AuditReport } from "../schema/report.ts";
 * declare const report: AuditReport;
 * const svg = confusionSvg(report.accuracy.confusion, report.model.classes);
 * const curves = robustnessSvg([{ name: "FGSM", points: report.robustness.fgsm }]);
 * const legend = seriesLegend(["FGSM"]);
 * ```
 */
import * as Plot from "@observablehq/plot";
import { parseHTML } from "linkedom";
import { joinHtml, raw, type SafeHtml, safeHtml } from "./safe_html.ts";

/** One calibration bin: confidences in [lo, hi), and the accuracy among them (null when empty). */
export interface CalibrationBin {
  lo: number;
  hi: number;
  count: number;
  accuracy: number | null;
}

/** A named accuracy-versus-epsilon curve. */
export interface NamedCurve {
  name: string;
  points: readonly { epsilon: number; accuracy: number }[];
}

/** A saliency method's rank correlation with the trained model's maps, per cascade stage. */
export interface SanitySeries {
  method: string;
  /** Stage 0 is the trained model (layer null), then one more layer randomised per stage. */
  stages: readonly { layer: string | null; spearman: number }[];
}

const SERIES_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"];
/** Heatmap cells: about this wide in all, within these bounds per cell. */
const HEATMAP_SIZE = 480;
const CELL_RANGE = [16, 44] as const;
const LABEL_CHARS = 18;
const HISTOGRAM_BINS = 20;

/** The SVG markup of a Plot chart, rendered with a DOM of its own. */
function render(options: Plot.PlotOptions): SafeHtml {
  // linkedom's types need the DOM lib, which Deno leaves out; Plot only calls standard DOM methods.
  const { document } = parseHTML("<!doctype html><html><body></body></html>") as unknown as {
    document: Plot.PlotOptions["document"];
  };
  // Plot builds the SVG with DOM calls and linkedom serializes it, escaping every text and attribute.
  return raw(Plot.plot({ ...options, document }).outerHTML);
}

/**
 * A tick label: one line (Plot splits text at line breaks, one tspan each) and at most LABEL_CHARS
 * characters. Cut here rather than with Plot's textOverflow, which adds a <title> to cut labels.
 */
function tickLabel(text: string): string {
  const chars = [...text.replace(/\r\n?|\n/g, " ")];
  return chars.length <= LABEL_CHARS ? chars.join("") : `${chars.slice(0, LABEL_CHARS - 1).join("")}…`;
}

const percent = (v: number) => `${Math.round(v * 100)}%`;

/** Margin room for tick labels at Plot's 10px font. */
function labelRoom(labels: string[]): number {
  return Math.round(Math.max(1, ...labels.map((l) => [...l].length)) * 5.5) + 16;
}

/**
 * The confusion matrix as a heatmap, label down and prediction across, counts in the cells.
 * `classes` picks (and orders) the classes shown; all by default.
 *
 * @example
 * ```ts
 * const svg = confusionSvg([[5, 1], [0, 4]], ["cat", "dog"]);
 * ```
 */
export function confusionSvg(confusion: number[][], names: string[], classes?: number[]): SafeHtml {
  const shown = classes ?? names.map((_, i) => i);
  const cells = shown.flatMap((label) =>
    shown.map((predicted) => ({ label, predicted, n: confusion[label][predicted] }))
  );
  const top = Math.max(1, ...cells.map((c) => c.n));
  const tick = (i: number) => tickLabel(names[i]);
  const room = labelRoom(shown.map(tick));
  const cell = Math.max(CELL_RANGE[0], Math.min(CELL_RANGE[1], Math.floor(HEATMAP_SIZE / shown.length)));
  const below = Math.round(room * 0.75) + 30; // x labels are turned 45 degrees
  return render({
    width: room + 40 + shown.length * cell,
    height: below + 10 + shown.length * cell,
    marginLeft: room + 20,
    marginBottom: below,
    marginTop: 10,
    marginRight: 20,
    x: { type: "band", domain: shown, label: "predicted" },
    y: { type: "band", domain: shown, label: "label" },
    color: { type: "sqrt", scheme: "blues", domain: [0, top] },
    marks: [
      Plot.cell(cells, { x: "predicted", y: "label", fill: "n", inset: 0.5 }),
      Plot.text(cells.filter((c) => c.n > 0), {
        x: "predicted",
        y: "label",
        text: "n",
        fill: (c) => (c.n > top / 2 ? "white" : "black"),
      }),
      Plot.axisX({ tickFormat: tick, tickRotate: -45 }),
      Plot.axisY({ tickFormat: tick }),
    ],
  });
}

/**
 * The reliability diagram: accuracy per confidence bin against the diagonal of perfect calibration.
 *
 * @example
 * ```ts
 * import type { AuditReport } from "../schema/report.ts";
 * declare const report: AuditReport;
 * const svg = reliabilitySvg(report.accuracy.calibration);
 * ```
 */
export function reliabilitySvg(bins: readonly CalibrationBin[]): SafeHtml {
  const filled = bins.filter((b) => b.count > 0 && b.accuracy !== null);
  return render({
    width: 420,
    height: 360,
    x: { domain: [0, 1], label: "confidence", tickFormat: percent },
    y: { domain: [0, 1], label: "accuracy", tickFormat: percent, grid: true },
    marks: [
      Plot.rectY(filled, { x1: "lo", x2: "hi", y: "accuracy", fill: "#4c78a8", inset: 1 }),
      Plot.line([[0, 0], [1, 1]], { stroke: "#888", strokeDasharray: "4,3" }),
      Plot.ruleY([0]),
    ],
  });
}

/** A line per series with a dot per point, coloured as `seriesLegend` says. */
function seriesMarks<T>(rows: T[], x: keyof T & string, y: keyof T & string, z: keyof T & string): Plot.Markish[] {
  return [Plot.line(rows, { x, y, stroke: z }), Plot.dot(rows, { x, y, fill: z, r: 3 })];
}

/**
 * The legend of a line chart, as HTML: a swatch in each series' colour and its name, in the order
 * given to the chart. (Written beside the chart: names at the line ends overlap where lines meet.)
 *
 * @example
 * ```ts
 * import { safeHtml } from "./safe_html.ts";
 * const caption = safeHtml`${seriesLegend(["FGSM", "PGD"])} Accuracy versus epsilon.`;
 * ```
 */
export function seriesLegend(names: readonly string[]): SafeHtml {
  return joinHtml(
    names.map((name, i) =>
      safeHtml`<span class="legend"><span class="swatch" style="background:${
        SERIES_COLORS[i % SERIES_COLORS.length]
      }"></span>${name}</span>`
    ),
    " ",
  );
}

/**
 * Accuracy versus attack strength, one line per attack.
 *
 * @example
 * ```ts
 * import type { AuditReport } from "../schema/report.ts";
 * declare const report: AuditReport;
 * const svg = robustnessSvg([{ name: "FGSM", points: report.robustness.fgsm }]);
 * ```
 */
export function robustnessSvg(curves: readonly NamedCurve[], norm = "L-infinity"): SafeHtml {
  const rows = curves.flatMap((c) =>
    c.points.map((p) => ({ attack: c.name, epsilon: p.epsilon, accuracy: p.accuracy }))
  );
  return render({
    width: 560,
    height: 320,
    x: { label: `epsilon (${norm})` },
    y: { domain: [0, 1], label: "accuracy", tickFormat: percent, grid: true },
    color: { domain: curves.map((c) => c.name), range: SERIES_COLORS },
    marks: [...seriesMarks(rows, "epsilon", "accuracy", "attack"), Plot.ruleY([0])],
  });
}

/**
 * A histogram of each image's epsilon that flips it (an upper bound).
 *
 * @example
 * ```ts
 * const svg = minEpsilonHistogramSvg([0.02, 0.05, 0.05, 0.11]);
 * ```
 */
export function minEpsilonHistogramSvg(values: readonly number[], norm = "L-infinity"): SafeHtml {
  // Binned here, not by Plot.binX, to know the tallest bar: integer ticks for small counts.
  const width = Math.max(...values, 1e-9) / HISTOGRAM_BINS;
  const bins = Array.from({ length: HISTOGRAM_BINS }, (_, b) => ({ lo: b * width, hi: (b + 1) * width, n: 0 }));
  for (const v of values) bins[Math.min(HISTOGRAM_BINS - 1, Math.floor(v / width))].n++;
  const tallest = Math.max(1, ...bins.map((b) => b.n));
  return render({
    width: 560,
    height: 260,
    x: { domain: [0, width * HISTOGRAM_BINS], label: `epsilon that flips (upper bound, ${norm})` },
    y: { domain: [0, tallest], label: "images", grid: true, ticks: Math.min(tallest, 5), tickFormat: "d" },
    marks: [Plot.rectY(bins, { x1: "lo", x2: "hi", y: "n", fill: "#4c78a8", inset: 0.5 }), Plot.ruleY([0])],
  });
}

/**
 * Rank correlation with the trained model's saliency as layers are randomised, top layer first:
 * a method that stays high does not depend on the model.
 *
 * @example
 * ```ts
 * const svg = sanitySvg([{ method: "gradient", stages: [{ layer: null, spearman: 1 }, { layer: "fc", spearman: 0.1 }] }]);
 * ```
 */
export function sanitySvg(series: readonly SanitySeries[]): SafeHtml {
  const rows = series.flatMap((s) => s.stages.map((st, stage) => ({ method: s.method, stage, spearman: st.spearman })));
  const stages = series[0]?.stages ?? [];
  const tick = (i: number) => tickLabel(stages[i]?.layer ?? "trained");
  const low = Math.min(0, ...rows.map((r) => r.spearman));
  return render({
    width: 560,
    height: 320 + labelRoom(stages.map((_, i) => tick(i))) / 2,
    marginBottom: 20 + labelRoom(stages.map((_, i) => tick(i))) / 2,
    x: { type: "point", domain: stages.map((_, i) => i), label: "randomised up to layer", padding: 0.3 },
    y: { domain: [low, 1], label: "Spearman rank correlation", grid: true },
    color: { domain: series.map((s) => s.method), range: SERIES_COLORS },
    marks: [
      Plot.ruleY([0], { stroke: "#888" }),
      ...seriesMarks(rows, "stage", "spearman", "method"),
      Plot.axisX({ tickFormat: tick, tickRotate: -30 }),
    ],
  });
}

/** A method's mean deletion or insertion curve: the explained class's probability per point. */
export interface PerturbationCurve {
  method: string;
  probabilities: readonly number[];
}

/**
 * Deletion or insertion curves (Petsiuk et al. 2018): the explained class's mean probability as
 * the share of pixels substituted in each method's order grows, one line per method.
 *
 * @example
 * ```ts
 * const svg = perturbationCurvesSvg([{ method: "gradient", probabilities: [0.9, 0.4, 0.1] }], [0, 0.5, 1], "deleted");
 * ```
 */
export function perturbationCurvesSvg(
  curves: readonly PerturbationCurve[],
  fractions: readonly number[],
  action: "deleted" | "inserted",
): SafeHtml {
  const rows = curves.flatMap((c) =>
    c.probabilities.map((probability, k) => ({ method: c.method, fraction: fractions[k], probability }))
  );
  return render({
    width: 420,
    height: 300,
    x: { domain: [0, 1], label: `share of pixels ${action}`, tickFormat: percent },
    y: { domain: [0, 1], label: "probability of the explained class", grid: true },
    color: { domain: curves.map((c) => c.method), range: SERIES_COLORS },
    marks: [Plot.ruleY([0]), ...seriesMarks(rows, "fraction", "probability", "method")],
  });
}
