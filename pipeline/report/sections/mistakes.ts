/**
 * The mistakes section: the taxonomy's counts (with "another object in the image" given real labels), a card per explained mistake (the image beside its
 * saliency) and the table of all mistakes, most confident first.
 *
 * @example
 * ```ts
 * import type { AuditReport } from "../../schema/report.ts";
 * import type { Embed } from "./section.ts";
 * declare const report: AuditReport;
 * declare const embed: Embed;
 * const { id, body } = mistakesSection(report, embed); // "mistakes"
 * ```
 */
import type { AuditReport } from "../../schema/report.ts";
import { badge, fixed, img, overlaid, pct, table } from "../markup.ts";
import { joinHtml, type SafeHtml, safeHtml } from "../safe_html.ts";
import { className, type Embed, type Explanations, type Section } from "./section.ts";
import { saliencyName } from "../../schema/saliency_names.ts";

type Mistake = AuditReport["mistakes"]["items"][number];

/** The mistakes table lists at most this many, most confident first. */
const MISTAKE_ROWS = 500;

function mistakeBadges(m: Mistake, lowMargin: number): SafeHtml {
  return joinHtml(
    [
      m.labelInTop5 && badge("label in top-5", "info"),
      m.sameSuperclass && badge("same superclass", "info"),
      m.lowMargin && badge(`low margin (< ${lowMargin})`, "warn"),
      m.otherObject && badge("another object in the image", "info"),
      !m.labelInTop5 && !m.sameSuperclass && !m.lowMargin && !m.otherObject && badge("unexplained", "bad"),
    ].filter(Boolean),
    " ",
  );
}

function topClasses(report: AuditReport, m: Mistake): SafeHtml {
  return joinHtml(m.top.map((c) => className(report, c)), ", ");
}

function mistakesTable(report: AuditReport): SafeHtml {
  const { items, lowMarginThreshold } = report.mistakes;
  const shown = [...items].sort((x, y) => y.confidence - x.confidence).slice(0, MISTAKE_ROWS);
  const rows = shown.map((m) => [
    String(m.index),
    className(report, m.label),
    className(report, m.predicted),
    pct(m.confidence),
    fixed(m.margin),
    topClasses(report, m),
    mistakeBadges(m, lowMarginThreshold),
  ]);
  const note = shown.length < items.length &&
    safeHtml`<p class="muted">The ${shown.length} most confident of ${items.length} mistakes.</p>`;
  return safeHtml`${note}${
    table(
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
    )
  }`;
}

function mistakeCards(report: AuditReport, explanations: Explanations, embed: Embed): SafeHtml {
  const items = new Map(report.mistakes.items.map((m) => [m.index, m]));
  const cards = explanations.mistakes.map((shown) => {
    const item = items.get(shown.index);
    return safeHtml`<article class="card mistake" data-index="${shown.index}">
<div class="pair">${img(embed(shown.image), `image ${shown.index}`)}${
      overlaid(
        embed(shown.image),
        embed(shown.saliency),
        `${saliencyName(explanations.method)} saliency of image ${shown.index}`,
      )
    }</div>
<dl><dt>label</dt><dd>${className(report, shown.label)}</dd><dt>predicted</dt><dd>${
      className(report, shown.predicted)
    } <span class="num">${pct(shown.confidence)}</span></dd>${
      item && safeHtml`<dt>top-5</dt><dd>${topClasses(report, item)}</dd>`
    }</dl>
<p class="badges">${item && mistakeBadges(item, report.mistakes.lowMarginThreshold)}</p>
<p class="muted">image #${shown.index}</p>
</article>`;
  });
  return safeHtml`<div class="cards">${joinHtml(cards, "\n")}</div>`;
}

/**
 * The mistakes section; with explanations, the explained mistakes as cards and the full table folded.
 *
 * @example
 * ```ts
 * import type { AuditReport } from "../../schema/report.ts";
 * declare const report: AuditReport;
 * const body = mistakesSection(report, (path) => ({ src: path, width: 32, height: 32 })).body;
 * ```
 */
export function mistakesSection(report: AuditReport, embed: Embed): Section {
  const { count, counts } = report.mistakes;
  const e = report.explanations;
  const taxonomy = `label in top-5 ${counts.labelInTop5}, same superclass ${counts.sameSuperclass}, ` +
    `low margin ${counts.lowMargin}, ` +
    (counts.otherObject === undefined ? "" : `another object in the image ${counts.otherObject}, `) +
    `none of these ${counts.unexplained}`;
  const intro = safeHtml`<p>${count} mistakes among ${report.accuracy.count} images: ${taxonomy}.</p>`;
  const body = e
    ? safeHtml`${intro}<p class="muted">The most confident mistakes, each with its ${
      saliencyName(e.method)
    } saliency.</p>
${mistakeCards(report, e, embed)}
<details><summary>All mistakes</summary>${mistakesTable(report)}</details>`
    : safeHtml`${intro}${mistakesTable(report)}`;
  return { id: "mistakes", title: "Mistakes", body };
}
