/**
 * The robustness section: accuracy versus epsilon per attack, flips and their superclass share,
 * the histogram of each image's smallest flipping epsilon, and the explained adversarial examples.
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
import { type Column, figure, img, pct, table } from "../markup.ts";
import { minEpsilonHistogramSvg, robustnessSvg, seriesLegend } from "../plots.ts";
import { joinHtml, type SafeHtml, safeHtml } from "../safe_html.ts";
import { className, type Embed, type Explanations, type Section } from "./section.ts";

function adversarialCards(report: AuditReport, explanations: Explanations, embed: Embed): SafeHtml {
  const cards = explanations.adversarial.map((pair) =>
    safeHtml`<article class="card adversarial" data-index="${pair.index}">
<div class="quad">${img(embed(pair.clean.image), `image ${pair.index}`)}${
      img(embed(pair.clean.saliency), `saliency of image ${pair.index}`)
    }${img(embed(pair.adversarial.image), `adversarial image ${pair.index}`)}${
      img(embed(pair.adversarial.saliency), `saliency of adversarial image ${pair.index}`)
    }</div>
<p><span class="from">${className(report, pair.clean.predicted)}</span> <span class="muted">${
      pct(pair.clean.confidence)
    }</span> → <span class="to">${className(report, pair.adversarial.predicted)}</span> <span class="muted">${
      pct(pair.adversarial.confidence)
    }</span></p>
<p class="muted">label ${
      className(report, pair.label)
    } · ${pair.attack.toUpperCase()}, epsilon ${pair.epsilon} · image #${pair.index}</p>
</article>`
  );
  return safeHtml`<div class="cards wide-cards">${joinHtml(cards, "\n")}</div>`;
}

function minEpsilonFigure(report: AuditReport): SafeHtml {
  const m = report.robustness.minEpsilon;
  const flips = report.images.flatMap((im) => (im.minEpsilon === null ? [] : [im.minEpsilon]));
  if (m === null) return safeHtml`<p class="muted">Smallest flipping epsilon not computed.</p>`;
  if (flips.length === 0) return safeHtml`<p>No image flipped within the sweep.</p>`;
  return figure(
    minEpsilonHistogramSvg(flips),
    `Smallest ${m.attack.toUpperCase()} epsilon that flips each correctly classified image (bisection to ${m.resolution}); ` +
      `median ${m.median === null ? "–" : m.median.toFixed(4)}, ${m.notFlipped} not flipped within the sweep.`,
  );
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
  const pairs = report.explanations && report.explanations.adversarial.length > 0 &&
    safeHtml`<div class="block" id="adversarial"><h3>Adversarial examples</h3>
<p class="muted">Each: the image and its saliency, then the attacked image and its saliency, at the smallest swept epsilon that flips it.</p>
${adversarialCards(report, report.explanations, embed)}</div>`;
  return {
    id: "robustness",
    title: "Robustness",
    body:
      safeHtml`<p>Attacks under an L-infinity budget; PGD: ${config.pgd.steps} steps of ${config.pgd.stepFraction} × epsilon${
        config.pgd.randomStart && ", random start"
      }. ${
        r.attacked < report.accuracy.count &&
        `Attacks ran on a seeded sample of ${r.attacked} of ${report.accuracy.count} images. `
      }${r.zeroGradients} images (${pct(r.zeroGradientShare)}) have an all-zero input gradient.</p>
<div class="cols">
${figure(robustnessSvg(curves), safeHtml`${seriesLegend(curves.map((c) => c.name))}<br>Accuracy versus epsilon.`)}
<div class="block">${
        table(columns, rows)
      }<p class="muted">Same superclass: share of flips landing in the label's superclass.</p></div>
</div>
<div class="block"><h3>Smallest flipping epsilon</h3>${minEpsilonFigure(report)}</div>
${pairs}`,
  };
}
