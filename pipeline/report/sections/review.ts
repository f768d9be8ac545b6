/**
 * The human study's block of the summary (`#review`, once people judged items): the
 * human-rectified top-1 estimate with its 95% interval beside the judged-only lower bound, the
 * human-judged fooling rate, the human-rectified robust accuracy per epsilon, agreement per arm
 * (Krippendorff's alpha), the explanation effect per item kind, and the verdict counts.
 *
 * @example
 * ```ts
 * import type { AuditReport } from "../../schema/report.ts";
 * declare const report: AuditReport;
 * const block = report.review && reviewBlock(report.review);
 * ```
 */
import type { ReviewSummary, StudyFigures } from "../../schema/review.ts";
import { facts, fixed, pct, pValue, table } from "../markup.ts";
import { type SafeHtml, safeHtml } from "../safe_html.ts";

const range = (lo: number | null, hi: number | null) => lo === null || hi === null ? "–" : `${pct(lo)} – ${pct(hi)}`;

/** A signed difference of shares in points of percentage. */
function points(d: number | null): string {
  return d === null ? "–" : `${d >= 0 ? "+" : ""}${(100 * d).toFixed(1)} pt`;
}

function studyFacts(study: StudyFigures): SafeHtml {
  const h = study.humanTop1, f = study.fooling;
  const caveat = study.sample === "random"
    ? "from the audit's seeded study sample, weighted by stratum"
    : "from the report's most confident mistakes, not a random sample: biased, does not extrapolate";
  return facts([
    [
      "human-rectified top-1 (estimate)",
      h === null
        ? "no mistake judged"
        : safeHtml`<strong class="human-top1">${pct(h.estimate)}</strong> (${
          h.judgedItems === h.mistakes ? "every mistake judged: no sampling error" : `95% ${range(h.lo, h.hi)}`
        }; ${h.judgedItems} of ${h.mistakes} mistakes judged, ${caveat})`,
    ],
    [
      "human-judged fooling rate",
      f === null
        ? "no adversarial example judged"
        : safeHtml`<strong class="fooling">${pct(f.rate)}</strong> (95% ${range(f.lo, f.hi)}; ${f.judgedItems} judged)`,
    ],
    ["reviewers", `${study.reviewers.length}, ${study.perItem} per item; label ${study.label}`],
    ["items without a majority", `${study.items.filter((i) => i.majority === null).length}`],
  ]);
}

function effectTable(study: StudyFigures): SafeHtml {
  const share = (a: { accepted: number; judgments: number }) =>
    `${a.accepted} / ${a.judgments} (${pct(a.judgments > 0 ? a.accepted / a.judgments : null)})`;
  return table(
    [
      { title: "explanation effect" },
      { title: "accepted with", numeric: true },
      { title: "accepted without", numeric: true },
      { title: "difference (95%)", numeric: true },
      { title: "Fisher p", numeric: true },
      { title: "verdict" },
    ],
    study.explanationEffect.map((e) => [
      e.kind === "mistake" ? "mistakes" : "adversarial examples",
      share(e.withExplanation),
      share(e.withoutExplanation),
      `${points(e.difference)} (${points(e.lo)} … ${points(e.hi)})`,
      e.p === null ? "–" : pValue(e.p),
      e.verdict,
    ]),
    { id: "explanation-effect", keys: study.explanationEffect.map((e) => e.kind) },
  );
}

function studyBlocks(study: StudyFigures): SafeHtml {
  return safeHtml`${studyFacts(study)}
${effectTable(study)}
${
    table(
      [{ title: "agreement" }, { title: "arm" }, { title: "items", numeric: true }, {
        title: "Krippendorff's α",
        numeric: true,
      }],
      study.agreement.map((a) => [a.kind, a.arm, String(a.items), fixed(a.alpha)]),
      { id: "agreement" },
    )
  }
${
    study.robustAccuracy.length > 0 && table(
      [
        { title: "epsilon", numeric: true },
        { title: "robust accuracy", numeric: true },
        { title: "human-rectified (95%)", numeric: true },
      ],
      study.robustAccuracy.map((
        p,
      ) => [String(p.epsilon), pct(p.accuracy), `${pct(p.humanRectified)} (${range(p.lo, p.hi)})`]),
      { id: "human-robustness" },
    )
  }`;
}

/**
 * The review block.
 *
 * @example
 * ```ts
 * import type { ReviewSummary } from "../../schema/review.ts";
 * declare const review: ReviewSummary;
 * const html = String(reviewBlock(review));
 * ```
 */
export function reviewBlock(review: ReviewSummary): SafeHtml {
  const judged = (["mistakes", "adversarial"] as const).map((kind) => {
    const j = review[kind];
    return [kind, String(j.judged), String(j.acceptable), String(j.notAcceptable), String(j.labelWrong)];
  });
  return safeHtml`<div id="review" class="block"><h3>Human review</h3>
<div class="cols">${
    facts([
      ["human-rectified top-1, judged mistakes only (lower bound)", pct(review.rectifiedTop1)],
      ["fooling rate of the judged adversarial examples", pct(review.rectifiedRobustness)],
      ["accepted with explanation (both kinds pooled)", pct(review.agreement.withExplanation)],
      ["accepted without explanation (both kinds pooled)", pct(review.agreement.withoutExplanation)],
      ["judgment lines", `${review.lines} (${review.malformedLines} malformed, skipped)`],
    ])
  }
${
    table([
      { title: "items by majority" },
      { title: "judged", numeric: true },
      { title: "acceptable", numeric: true },
      { title: "not acceptable", numeric: true },
      { title: "label wrong", numeric: true },
    ], judged)
  }</div>
${review.study && studyBlocks(review.study)}</div>`;
}
