/**
 * The robustness section: accuracy versus epsilon per attack (AutoAttack's after each of its
 * attacks), flips and their superclass share, the trust checks that fired with their images, the
 * histogram of each image's epsilon that flips it (an upper bound), and the explained adversarial
 * examples.
 *
 * @example
 * ```ts
 * import type { AuditReport } from "../../schema/report.ts";
 * import type { Embed } from "./section.ts";
 * declare const report: AuditReport;
 * declare const embed: Embed;
 * const { id, body } = robustnessSection(report, embed); // "robustness"
 * ```
 */
import type { AuditReport } from "../../schema/report.ts";
import { type Column, figure, img, overlaid, pct, table } from "../markup.ts";
import { minEpsilonHistogramSvg, robustnessSvg, seriesLegend } from "../plots.ts";
import { joinHtml, type SafeHtml, safeHtml } from "../safe_html.ts";
import { attackLabel, curveLabel, normLabel, shownCurves } from "../attack_names.ts";
import { className, type Embed, type Explanations, type Section } from "./section.ts";

function adversarialCards(report: AuditReport, explanations: Explanations, embed: Embed): SafeHtml {
  const cards = explanations.adversarial.map((pair) =>
    safeHtml`<article class="card adversarial" data-index="${pair.index}">
<div class="quad">${img(embed(pair.clean.image), `image ${pair.index}`)}${
      overlaid(embed(pair.clean.image), embed(pair.clean.saliency), `saliency of image ${pair.index}`)
    }${img(embed(pair.adversarial.image), `adversarial image ${pair.index}`)}${
      overlaid(
        embed(pair.adversarial.image),
        embed(pair.adversarial.saliency),
        `saliency of adversarial image ${pair.index}`,
      )
    }</div>
<p><span class="from">${className(report, pair.clean.predicted)}</span> <span class="muted">${
      pct(pair.clean.confidence)
    }</span> → <span class="to">${className(report, pair.adversarial.predicted)}</span> <span class="muted">${
      pct(pair.adversarial.confidence)
    }</span></p>
<p class="muted">label ${className(report, pair.label)} · ${
      attackLabel(pair.attack)
    }, epsilon ${pair.epsilon} · image #${pair.index}</p>
</article>`
  );
  return safeHtml`<div class="cards wide-cards">${joinHtml(cards, "\n")}</div>`;
}

function minEpsilonFigure(report: AuditReport): SafeHtml {
  const m = report.robustness.minEpsilon;
  const flips = report.images.flatMap((im) => (im.minEpsilon === null ? [] : [im.minEpsilon]));
  if (m === null) return safeHtml`<p class="muted">Epsilon that flips not computed.</p>`;
  if (flips.length === 0) return safeHtml`<p>No image flipped within the sweep.</p>`;
  const largest = Math.max(...report.config.epsilons);
  const all = m.medianAll === undefined ? "" : `; median over all ${m.flipped + m.notFlipped} correctly classified ` +
    `attacked images, the unflipped counted as above the sweep: ${
      m.medianAll === null ? `above ${largest}` : m.medianAll.toFixed(4)
    }`;
  return figure(
    minEpsilonHistogramSvg(flips, normLabel(report.config.norm)),
    `Epsilon that flips each correctly classified image, an upper bound: the upper end of a bisection to ` +
      `${m.resolution} ${
        report.config.minEpsilonSearch === "attack"
          ? `with ${attackLabel(m.attack)} at every midpoint`
          : `along the segment from the image to its ${attackLabel(report.robustness.attack)} adversarial point`
      } (the smallest flipping epsilon may be lower). ` +
      `Median ${m.median === null ? "–" : m.median.toFixed(4)} over the ${m.flipped} flipped, ` +
      `${m.notFlipped} not flipped within the sweep${all}.`,
  );
}

/** DeepFool's minimal-norm estimate beside the epsilon that flips. */
function minimalNormLine(report: AuditReport): SafeHtml | false {
  const d = report.robustness.minimalNorm;
  if (!d) return false;
  const above = d.medianAll === null ? "above every estimate" : d.medianAll.toFixed(4);
  return safeHtml`<p>DeepFool's minimal-norm estimate (${
    normLabel(d.norm)
  }; ${d.candidates} candidate classes, overshoot ${d.overshoot}, at most ${d.steps} steps; a flip was seen at each, so an upper bound too): median <strong>${
    d.median === null ? "–" : d.median.toFixed(4)
  }</strong> over the ${d.flipped} images it flipped; ${d.notFlipped} not flipped within its steps; median over all ${
    d.flipped + d.notFlipped
  } correctly classified attacked images, the unflipped counted as above: ${above}.</p>`;
}

function flagList(report: AuditReport): SafeHtml | false {
  const flags = report.robustness.flags ?? [];
  if (flags.length === 0) return false;
  const items = flags.map((f) => safeHtml`<li><b>${f.check}</b>: ${f.message}</li>`);
  return safeHtml`<div class="block"><h3>Trust checks that fired</h3><ul>${joinHtml(items, "\n")}</ul></div>`;
}

/**
 * The robustness section.
 *
 * @example
 * ```ts
 * import type { AuditReport } from "../../schema/report.ts";
 * declare const report: AuditReport;
 * const body = robustnessSection(report, (path) => ({ src: path, width: 32, height: 32 })).body;
 * ```
 */
export function robustnessSection(report: AuditReport, embed: Embed): Section {
  const { robustness: r, config } = report;
  const curves = shownCurves(r.curves, r, r.ensemble).map(([key, points]) => ({
    name: curveLabel(key, r.ensemble),
    points,
  }));
  const rows = r.curve.map((p, i) => [
    String(p.epsilon),
    ...curves.map((c) => pct(c.points[i]?.accuracy ?? null)),
    String(p.flips),
    pct(p.successRate),
    pct(p.sameSuperclassShare),
  ]);
  const main = attackLabel(r.attack);
  const columns: Column[] = [
    { title: `epsilon (${normLabel(config.norm)})`, numeric: true },
    ...curves.map((c) => ({ title: `${c.name} accuracy`, numeric: true })),
    { title: `${main} flips`, numeric: true },
    { title: "success rate", numeric: true },
    { title: "same superclass", numeric: true },
  ];
  const pairs = report.explanations && report.explanations.adversarial.length > 0 &&
    safeHtml`<div class="block" id="adversarial"><h3>Adversarial examples</h3>
<p class="muted">Each: the image and its saliency, then the attacked image and its saliency, at the smallest swept epsilon that flips it.</p>
${adversarialCards(report, report.explanations, embed)}</div>`;
  const apgd = config.apgd;
  return {
    id: "robustness",
    title: "Robustness",
    body: safeHtml`<p>Attacks under an ${normLabel(config.norm)} budget${
      config.norm === "l2" ? " (FGSM is then the fast gradient method, a step of epsilon along g / ||g||_2)" : ""
    }; main curve: ${main}${
      r.ensemble
        ? ` (APGD-CE, then APGD-T on 9 target classes, ${
          r.ensemble.includes("fab-t") ? `then FAB-T on 9 target classes with ${config.fabSteps} steps, ` : ""
        }then Square with ${config.squareQueries} queries)`
        : ""
    }${
      config.target === undefined
        ? ""
        : `, targeted at ${
          typeof config.target === "number" ? className(report, config.target) : `each image's ${config.target} class`
        } (a flip is reaching the target; the curve is the share not driven to it)`
    }. PGD: ${config.pgd.steps} steps of ${config.pgd.stepFraction} × epsilon${
      config.pgd.randomStart && ", random start"
    }${apgd ? `; APGD: ${apgd.steps} iterations, ${apgd.restarts} restart${apgd.restarts > 1 ? "s" : ""}` : ""}. ${
      r.attacked < report.accuracy.count &&
      `Attacks ran on a seeded sample of ${r.attacked} of ${report.accuracy.count} images. `
    }Each attack runs, epsilon by epsilon upwards, only on the images not flipped yet: the balls nest, so an image flipped at a smaller epsilon counts as flipped at every larger one (FGSM's own per-epsilon accuracy is kept for the trust checks). ${r.zeroGradients} images (${
      pct(r.zeroGradientShare)
    }) have an all-zero input gradient.</p>
<div class="cols">
${
      figure(
        robustnessSvg(curves, normLabel(config.norm)),
        safeHtml`${seriesLegend(curves.map((c) => c.name))}<br>Accuracy versus epsilon.`,
      )
    }
<div class="block">${
      table(columns, rows)
    }<p class="muted">Same superclass: share of flips landing in the label's superclass.</p></div>
</div>
${flagList(report)}
<div class="block"><h3>Epsilon that flips (upper bound)</h3>${minEpsilonFigure(report)}${minimalNormLine(report)}</div>
${pairs}`,
  };
}
