/**
 * The sanity checks section: cascading randomisation of the model's layers, each saliency method's
 * rank correlation with the trained model's maps per stage, and which methods fail the check.
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

/** Rank correlation above which maps of the fully randomised model count as "still the same". */
const SANITY_FAILS_ABOVE = 0.5;

/** Names the methods whose maps survive randomising every layer: they show the input, not the model. */
function sanityVerdict(sanity: Sanity): SafeHtml {
  const last = (m: (typeof sanity.methods)[number]) => m.stages[m.stages.length - 1].spearman;
  const failing = sanity.methods.filter((m) => last(m) > SANITY_FAILS_ABOVE);
  if (failing.length === 0) return safeHtml`<p>Every method's maps change once the model is randomised: all pass.</p>`;
  const names = joinHtml(failing.map((m) => `${m.method} (${fixed(last(m), 2)})`), ", ");
  return safeHtml`<p class="warnings">Fails the check: ${names} &mdash; rank correlation above ${SANITY_FAILS_ABOVE} with every
layer randomised, so these maps mostly show the input image, not what the model learned.</p>`;
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
  return {
    id: "sanity",
    title: "Sanity checks",
    body:
      safeHtml`<p>Cascading randomisation (Adebayo et al.) over ${sanity.images} images: layers are randomised from the top
(${joinHtml(sanity.layers, " → ")}) and each saliency map is compared with the trained model's by Spearman rank
correlation. A method whose maps stay similar does not explain what the model learned.</p>
${sanityVerdict(sanity)}
<div class="cols">
${
        figure(
          sanitySvg(sanity.methods),
          safeHtml`${
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
