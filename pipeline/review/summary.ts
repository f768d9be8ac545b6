/**
 * The figures people's judgments give (the paper's human study). Each reviewer's latest answer on
 * an item counts, and an item's verdict is the majority of its reviewers' answers (more than half;
 * none on a tie). From the verdicts: counts, the judged-only lower bound of the human-rectified
 * top-1 and the judged fooling rate (the report's `review` keys since the first review tool); and,
 * in `study`, the design's statistics: agreement (Krippendorff's alpha) per arm, the human-rectified
 * top-1 extrapolated from the weighted sample, the human-judged fooling rate and the
 * human-rectified robust accuracy per epsilon, each with a 95% interval, and the explanation effect
 * per item kind with Newcombe's interval and Fisher's exact test.
 *
 * @example
 * ```ts
 * import { readJudgments } from "./judgments.ts";
 * import { type ReviewPlan } from "./plan.ts";
 * import type { AuditReport } from "../schema/report.ts";
 * declare const report: AuditReport; // read from audit-report/report.json
 * declare const plan: ReviewPlan;
 * const log = await readJudgments("audit-report", new Set(plan.items.map((item) => item.id)));
 * report.review = reviewSummary(report, plan, log);
 * ```
 */
import type { AuditReport } from "../schema/report.ts";
import { type Judgment, JUDGMENTS, type ReviewSummary, type StudyFigures } from "../schema/review.ts";
import type { ItemKind, JudgmentLog, JudgmentRecord } from "./judgments.ts";
import type { ReviewPlan } from "./plan.ts";
import { fisherExact, krippendorffAlpha, newcombeDifference, stratifiedShare, type Stratum } from "./stats.ts";

type Counts = ReviewSummary["mistakes"];

/** Below this p the explanation effect is called; above it, an interval within ±this says "none this large". */
const SIGNIFICANCE = 0.05;
const NEGLIGIBLE = 0.1;

/** The answer of more than half of `answers`; null on no majority (or no answers). */
export function majority(answers: readonly Judgment[]): Judgment | null {
  for (const j of JUDGMENTS) {
    if (answers.filter((a) => a === j).length * 2 > answers.length) return j;
  }
  return null;
}

/** The latest answers, grouped by item id. */
function answersByItem(log: JudgmentLog): Map<string, JudgmentRecord[]> {
  const by = new Map<string, JudgmentRecord[]>();
  for (const j of log.judgments.values()) by.set(j.item, [...(by.get(j.item) ?? []), j]);
  return by;
}

function verdictCounts(verdicts: readonly { kind: ItemKind; majority: Judgment | null }[], kind: ItemKind): Counts {
  const ofKind = verdicts.filter((v) => v.kind === kind);
  const count = (j: Judgment) => ofKind.filter((v) => v.majority === j).length;
  return {
    judged: ofKind.length,
    acceptable: count("acceptable"),
    notAcceptable: count("not acceptable"),
    labelWrong: count("label is wrong"),
  };
}

/** Share of "acceptable" among `judgments`; null for none. */
function acceptedShare(judgments: readonly JudgmentRecord[]): number | null {
  if (judgments.length === 0) return null;
  return judgments.filter((j) => j.judgment === "acceptable").length / judgments.length;
}

/** An arm's name: what the page showed with the image. */
export function armName(j: { explanationShown: boolean; labelShown: boolean }): string {
  return `explanation ${j.explanationShown ? "shown" : "hidden"}; label ${j.labelShown ? "shown" : "hidden"}`;
}

/** Agreement per kind, over all answers and within each arm. */
function agreement(byItem: Map<string, JudgmentRecord[]>): StudyFigures["agreement"] {
  const rows: StudyFigures["agreement"] = [];
  for (const kind of ["mistake", "adversarial"] as const) {
    const items = [...byItem.values()].filter((answers) => answers[0].kind === kind);
    const arms = [...new Set(items.flat().map(armName))].sort();
    for (const arm of ["all arms", ...arms]) {
      const units = items.map((answers) => answers.filter((j) => arm === "all arms" || armName(j) === arm))
        .filter((answers) => answers.length >= 2);
      rows.push({
        kind,
        arm,
        items: units.length,
        answers: units.reduce((s, u) => s + u.length, 0),
        alpha: krippendorffAlpha(units.map((u) => u.map((j) => j.judgment))),
      });
    }
  }
  return rows;
}

/** The stratified share of judged items of `kind` whose verdict is one of `counted`, with its interval. */
function weightedShare(
  plan: ReviewPlan,
  verdicts: ReadonlyMap<string, Judgment | null>,
  kind: ItemKind,
  counted: readonly Judgment[],
) {
  const strata = new Map<string, (0 | 1)[]>();
  for (const item of plan.items) {
    if (item.kind !== kind || !verdicts.has(item.id)) continue;
    const v = verdicts.get(item.id)!;
    strata.set(item.stratum, [...(strata.get(item.stratum) ?? []), v !== null && counted.includes(v) ? 1 : 0]);
  }
  const population = plan.population[kind];
  const list: Stratum[] = [...strata].map(([name, sample]) => ({
    population: Math.max(population[name] ?? 0, sample.length),
    sample,
  }));
  return stratifiedShare(list);
}

function explanationEffect(judgments: readonly JudgmentRecord[]): StudyFigures["explanationEffect"] {
  return (["mistake", "adversarial"] as const).map((kind) => {
    const ofKind = judgments.filter((j) => j.kind === kind);
    const arm = (shown: boolean) => {
      const inArm = ofKind.filter((j) => j.explanationShown === shown);
      return { accepted: inArm.filter((j) => j.judgment === "acceptable").length, judgments: inArm.length };
    };
    const withE = arm(true), withoutE = arm(false);
    const d = newcombeDifference(withE.accepted, withE.judgments, withoutE.accepted, withoutE.judgments);
    const p = d === null ? null : fisherExact(
      withE.accepted,
      withE.judgments - withE.accepted,
      withoutE.accepted,
      withoutE.judgments - withoutE.accepted,
    );
    const verdict = d === null || p === null
      ? "no judgments in one arm"
      : p < SIGNIFICANCE
      ? "explanations change acceptance"
      : d.lo > -NEGLIGIBLE && d.hi < NEGLIGIBLE
      ? `no effect larger than ${NEGLIGIBLE * 100} points`
      : "too small to conclude";
    return {
      kind,
      withExplanation: withE,
      withoutExplanation: withoutE,
      difference: d?.difference ?? null,
      lo: d?.lo ?? null,
      hi: d?.hi ?? null,
      p,
      verdict,
    };
  });
}

/** The design's statistics (see the module's note). */
function studyFigures(report: AuditReport, plan: ReviewPlan, log: JudgmentLog): StudyFigures {
  const byItem = answersByItem(log);
  const judgments = [...log.judgments.values()];
  const kinds = new Map(plan.items.map((item) => [item.id, item]));
  const verdicts = new Map([...byItem].map(([id, answers]) => [id, majority(answers.map((j) => j.judgment))]));
  const items = plan.items.filter((item) => byItem.has(item.id)).map((item) => {
    const answers = byItem.get(item.id)!.map((j) => j.judgment);
    const n = (j: Judgment) => answers.filter((a) => a === j).length;
    return {
      item: item.id,
      kind: item.kind,
      stratum: item.stratum,
      weight: item.weight,
      acceptable: n("acceptable"),
      notAcceptable: n("not acceptable"),
      labelWrong: n("label is wrong"),
      majority: verdicts.get(item.id)!,
    };
  });
  const noMajority = (kind: ItemKind) => items.filter((i) => i.kind === kind && i.majority === null).length;

  // Forgiven: the majority accepts the answer, or finds the label wrong; top-1 counts it right.
  const images = report.accuracy.count, mistakes = report.mistakes.count;
  const correct = images - mistakes;
  const forgiven = weightedShare(plan, verdicts, "mistake", ["acceptable", "label is wrong"]);
  const top1 = (share: number) => images > 0 ? (correct + mistakes * share) / images : 0;
  const fooled = weightedShare(plan, verdicts, "adversarial", ["not acceptable"]);
  const attacked = report.robustness.attacked;
  return {
    sample: plan.sample,
    perItem: plan.perItem,
    label: plan.label,
    reviewers: plan.reviewers.map((r) => ({
      id: r.id,
      name: r.name,
      assigned: plan.assignments.filter((a) => a.reviewer === r.id).length,
      judged: judgments.filter((j) => j.reviewer === r.id && kinds.has(j.item)).length,
    })),
    items,
    agreement: agreement(byItem),
    humanTop1: forgiven && {
      estimate: top1(forgiven.estimate),
      lo: top1(forgiven.lo),
      hi: top1(forgiven.hi),
      forgivenShare: { estimate: forgiven.estimate, lo: forgiven.lo, hi: forgiven.hi },
      judgedItems: forgiven.n,
      mistakes,
      noMajority: noMajority("mistake"),
    },
    fooling: fooled && {
      rate: fooled.estimate,
      lo: fooled.lo,
      hi: fooled.hi,
      judgedItems: fooled.n,
      noMajority: noMajority("adversarial"),
    },
    // A flip people accept is no real mistake: it counts right again (judged at the smallest flipping epsilon).
    robustAccuracy: fooled === null || attacked === 0 ? [] : report.robustness.curve.map((p) => {
      const rectify = (fool: number) => Math.min(1, p.accuracy + (p.flips / attacked) * (1 - fool));
      return {
        epsilon: p.epsilon,
        accuracy: p.accuracy,
        humanRectified: rectify(fooled.estimate),
        lo: rectify(fooled.hi),
        hi: rectify(fooled.lo),
      };
    }),
    explanationEffect: explanationEffect(judgments.filter((j) => kinds.has(j.item))),
  };
}

/**
 * The review summary of `report` from the judgments read, with the plan's design:
 * - counts: items by majority verdict;
 * - rectifiedTop1 = (correct images + items judged "acceptable") / (images - items judged "label
 *   is wrong"): unjudged mistakes count wrong, so until all are judged it is a lower bound;
 * - rectifiedRobustness: the share of judged adversarial examples judged "not acceptable", a
 *   fooling rate (kept under its first name); null when none is judged;
 * - agreement: the share of "acceptable" among the judgments made with the explanation shown,
 *   and without it, both kinds pooled; null where there are none;
 * - study: the design's statistics.
 *
 * @example
 * ```ts
 * import type { AuditReport } from "../schema/report.ts";
 * import type { ReviewPlan } from "./plan.ts";
 * declare const report: AuditReport;
 * declare const plan: ReviewPlan;
 * const summary = reviewSummary(report, plan, { judgments: new Map(), records: [], lines: 0, malformed: [] });
 * summary.rectifiedTop1 === report.accuracy.top1; // nothing judged yet (up to rounding)
 * ```
 */
export function reviewSummary(report: AuditReport, plan: ReviewPlan, log: JudgmentLog): ReviewSummary {
  const judgments = [...log.judgments.values()];
  const byItem = answersByItem(log);
  const verdicts = [...byItem.values()].map((answers) => ({
    kind: answers[0].kind,
    majority: majority(answers.map((j) => j.judgment)),
  }));
  const mistakes = verdictCounts(verdicts, "mistake");
  const adversarial = verdictCounts(verdicts, "adversarial");
  const images = report.accuracy.count;
  const correct = Math.round(report.accuracy.top1 * images);
  return {
    lines: log.lines,
    malformedLines: log.malformed.length,
    mistakes,
    adversarial,
    rectifiedTop1: images - mistakes.labelWrong > 0
      ? (correct + mistakes.acceptable) / (images - mistakes.labelWrong)
      : 0,
    rectifiedRobustness: adversarial.judged > 0 ? adversarial.notAcceptable / adversarial.judged : null,
    agreement: {
      withExplanation: acceptedShare(judgments.filter((j) => j.explanationShown)),
      withoutExplanation: acceptedShare(judgments.filter((j) => !j.explanationShown)),
    },
    study: studyFigures(report, plan, log),
  };
}
