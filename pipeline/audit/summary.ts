/**
 * The terminal summary of an audit report: what it ran on (adapter, backend, driver), accuracy,
 * the headline row (top-1, ReaL top-1, hierarchy- and human-rectified top-1), the mistake taxonomy, the accuracy-versus-epsilon curves (FGSM and the main attack's, or AutoAttack's after each attack),
 * warnings and timings, as aligned plain text.
 *
 * @example
 * ```ts
 * import { readReport } from "../report/report_file.ts";
 * console.log(formatSummary(await readReport("audit-report")));
 * ```
 */
import { headlineFigures, headlineValue } from "../report/headline.ts";
import { attackLabel, curveLabel, normLabel, shownCurves } from "../report/attack_names.ts";
import { ranOnLine } from "../report/ran_on.ts";
import type { AuditReport } from "../schema/report.ts";
import { faithfulnessLines } from "./faithfulness_summary.ts";

const LABEL_WIDTH = 22;
const COLUMN_WIDTH = 9;

const pct = (v: number | null) => (v === null ? "-" : `${(100 * v).toFixed(1)}%`);

function row(label: string, cells: string[]): string {
  return label.padEnd(LABEL_WIDTH) + cells.map((c) => c.padEnd(COLUMN_WIDTH)).join("").trimEnd();
}

/** A plain-text summary table of a report. */
export function formatSummary(report: AuditReport): string {
  const { accuracy: a, mistakes: m, robustness: r, config } = report;
  const lines = [
    `audit of ${report.model.name} on ${report.data.name}: ${a.count} images`,
    `ran on ${ranOnLine(report.adapter)}`,
    "",
    row("accuracy", [`top-1 ${pct(a.top1)}   top-5 ${pct(a.top5)}`]),
    ...headlineLines(report),
    row("calibration", [`mean confidence ${a.meanConfidence.toFixed(3)}   ECE ${a.ece.toFixed(3)} (15 bins)`]),
    row(`mistakes (${m.count})`, [
      `label in top-5 ${m.counts.labelInTop5}   same superclass ${m.counts.sameSuperclass}   ` +
      `low margin (<${m.lowMarginThreshold}) ${m.counts.lowMargin}   ` +
      (m.counts.otherObject === undefined ? "" : `another object (ReaL) ${m.counts.otherObject}   `) +
      `none of these ${m.counts.unexplained}`,
    ]),
    "",
    row(`epsilon (${normLabel(config.norm, true)})`, config.epsilons.map(String)),
  ];
  if (r.attacked < a.count) lines.splice(lines.length - 1, 0, `attacks on a seeded sample of ${r.attacked} images`);
  for (const [key, curve] of shownCurves(r.curves, r, r.ensemble)) {
    const name = curveLabel(key, r.ensemble, true);
    lines.push(row(`${name} accuracy`, curve.map((p) => pct(p.accuracy))));
    // In a flat hierarchy no flip can land in the label's superclass: the row would say nothing.
    if (config.hierarchy !== "flat") {
      lines.push(row(`${name} same-superclass`, curve.map((p) => pct(p.sameSuperclassShare))));
    }
  }
  if (config.hierarchy !== "flat") {
    lines.push(row("", ["(same-superclass: share of flips landing in the label's superclass)"]));
  }
  if (r.ensemble) lines.push(row("", ["(AA X: robust accuracy after AutoAttack's attacks up to X)"]));
  if (r.minEpsilon) {
    const e = r.minEpsilon;
    const largest = Math.max(...config.epsilons);
    lines.push(
      "",
      `epsilon that flips (upper bound; ${
        config.minEpsilonSearch === "attack" ? attackLabel(e.attack) : "along the adversarial direction"
      }, ${normLabel(config.norm)}, bisection to ${e.resolution.toPrecision(3)}): ` +
        `median ${e.median === null ? "-" : e.median.toFixed(4)} over the ${e.flipped} images flipped; ` +
        `${e.notFlipped} not flipped by epsilon ${largest}` +
        (e.medianAll === undefined ? "" : `; median over all ${e.flipped + e.notFlipped} attacked (unflipped counted ` +
          `above the sweep) ${e.medianAll === null ? `> ${largest}` : e.medianAll.toFixed(4)}`),
    );
  }
  const d = r.minimalNorm;
  if (d) {
    lines.push(
      `DeepFool minimal-norm estimate (${normLabel(d.norm)}, a flip seen at each): median ` +
        `${d.median === null ? "-" : d.median.toFixed(4)} over the ${d.flipped} flipped; ${d.notFlipped} not flipped ` +
        `in ${d.steps} steps; median over all ${d.flipped + d.notFlipped} (unflipped counted above) ` +
        (d.medianAll === null ? "above every estimate" : d.medianAll.toFixed(4)),
    );
  }
  lines.push(`zero input gradients: ${r.zeroGradients} of ${r.attacked} images attacked`);
  if (report.explanations) lines.push("", explanationLine(report.explanations));
  if (report.faithfulness) lines.push("", ...faithfulnessLines(report.faithfulness, LABEL_WIDTH));
  if (report.bias) lines.push("", ...biasLines(report.bias));
  lines.push(
    "",
    ...(r.warnings.length > 0 ? ["warnings:", ...r.warnings.map((w) => `  - ${w}`)] : ["warnings: none"]),
    "",
    row("timings (s)", [Object.entries(report.timings).map(([k, v]) => `${k} ${v.toFixed(1)}`).join("   ")]),
  );
  return lines.join("\n");
}

/** The headline figures on one line, then what each rectified one counts. */
function headlineLines(report: AuditReport): string[] {
  const figures = headlineFigures(report);
  return [
    row("top-1, rectified", [figures.map((f) => `${f.name} ${headlineValue(f)}`).join("   ")]),
    ...figures.slice(1).map((f) => " ".repeat(LABEL_WIDTH) + `${f.name}: ${f.note}`),
  ];
}

function explanationLine(e: NonNullable<AuditReport["explanations"]>): string {
  const parts = [
    `${e.method} saliency for ${e.mistakes.length} mistakes and ${e.adversarial.length} adversarial examples`,
  ];
  if (e.sanity) {
    const last = (m: (typeof e.sanity.methods)[number]) => m.stages[m.stages.length - 1].spearman.toFixed(2);
    parts.push(
      `sanity (rank correlation, all layers randomised): ${
        e.sanity.methods.map((m) => `${m.method} ${last(m)}`).join(", ")
      }`,
    );
    if (e.sanity.verdict) parts.push(sanityVerdictLine(e.sanity.verdict));
  }
  return ["explanations".padEnd(LABEL_WIDTH) + parts[0], ...parts.slice(1).map((p) => " ".repeat(LABEL_WIDTH) + p)]
    .join("\n");
}

/** Which methods fail which sanity tests (a method fails a test when a measure's upper bound reaches the threshold). */
function sanityVerdictLine(
  verdict: NonNullable<NonNullable<NonNullable<AuditReport["explanations"]>["sanity"]>["verdict"]>,
) {
  const methods = [...new Set(verdict.verdicts.map((v) => v.method))];
  const each = methods.map((method) => {
    const failed = verdict.verdicts.filter((v) => v.method === method && !v.passes).map((v) => v.test);
    return failed.length === 0 ? `${method} passes` : `${method} fails ${failed.join("/")}`;
  });
  return `sanity verdicts (${Math.round(verdict.level * 100)}% upper bound < ${verdict.threshold}): ${each.join(", ")}`;
}

function biasLines(b: NonNullable<AuditReport["bias"]>): string[] {
  const flagged = b.classes.filter((c) => c.flagged);
  const head =
    `${b.settings.prototypes} prototypes and ${b.settings.criticisms} criticisms per class, ${b.classes.length} classes`;
  const verdict = b.settings.comparisons === 0
    ? "no --groups: no group findings"
    : flagged.length === 0
    ? "no class flagged"
    : `flagged: ${flagged.map((c) => `${c.name} (${c.flaggedGroups.join(", ")})`).join("; ")}`;
  const lines = [head, verdict];
  if (b.settings.slices) {
    const found = b.classes.flatMap((c) => (c.slices ?? []).filter((s) => s.found).map(() => c.name));
    lines.push(
      found.length === 0
        ? "no slice of mistakes found"
        : `slices of mistakes found in: ${[...new Set(found)].join(", ")}`,
    );
  }
  const t = b.counterfactual;
  if (t) {
    const [low, high] = t.interval.map((v) => (100 * v).toFixed(1));
    lines.push(`counterfactual: ${t.flips.count}/${t.flips.of} flipped into ${t.name} (95% CI ${low}-${high}%)`);
  }
  return lines.map((line, i) => (i === 0 ? "bias" : "").padEnd(LABEL_WIDTH) + line);
}
