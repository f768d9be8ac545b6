/**
 * Group statistics of one class: each group's share of the class's pool and prototypes, and the
 * rate at which each group's images of *other* labels are predicted into the class, against the
 * other groups' rate, with a one-sided Fisher exact test (fisher.ts) and its Bonferroni adjustment.
 *
 * @example
 * ```ts
 * import type { FeatureTable } from "../explain/features.ts";
 * import type { Groups } from "./groups.ts";
 * declare const table: FeatureTable, groups: Groups;
 * declare const pool: (string | undefined)[], prototypes: (string | undefined)[]; // class 7's rows' groups
 * const confusion = confusionByGroup(table, groups, 10);
 * const findings = groupFindings(confusion, 7, { classes: 10, pool, prototypes, comparisons: 20 });
 * ```
 */
import { fisherGreater } from "./fisher.ts";
import type { Groups } from "./groups.ts";
import type { GroupFindingReport } from "../schema/bias.ts";

/** Per group, a classes x classes confusion matrix: [label * classes + predicted] counts. */
export type GroupConfusion = Map<string, Int32Array>;

/** Counts (label, predicted) pairs per group over the rows of a feature table. */
export function confusionByGroup(
  table: { indices: Int32Array; labels: Int32Array; predicted: Int32Array },
  groups: Groups,
  classes: number,
): GroupConfusion {
  const out: GroupConfusion = new Map();
  table.indices.forEach((index, row) => {
    const group = groups.get(index);
    if (group === undefined) return;
    let counts = out.get(group);
    if (!counts) out.set(group, counts = new Int32Array(classes * classes));
    counts[table.labels[row] * classes + table.predicted[row]]++;
  });
  return new Map([...out].sort((a, b) => (a[0] < b[0] ? -1 : 1)));
}

/** Images of labels other than `label` in a confusion matrix, and how many were predicted `label`. */
function intoClass(counts: Int32Array, classes: number, label: number): { count: number; of: number } {
  let count = 0, of = 0;
  for (let l = 0; l < classes; l++) {
    if (l === label) continue;
    for (let p = 0; p < classes; p++) of += counts[l * classes + p];
    count += counts[l * classes + label];
  }
  return { count, of };
}

const rate = (r: { count: number; of: number }) => ({ ...r, rate: r.of > 0 ? r.count / r.of : 0 });

/** The group findings of class `label`: pool and prototype group names give the shares. */
export function groupFindings(
  confusion: GroupConfusion,
  label: number,
  context: { classes: number; pool: (string | undefined)[]; prototypes: (string | undefined)[]; comparisons: number },
): GroupFindingReport[] {
  const { classes } = context;
  const share = (names: (string | undefined)[], group: string) =>
    names.length > 0 ? names.filter((g) => g === group).length / names.length : 0;
  const all = [...confusion.values()].map((c) => intoClass(c, classes, label));
  const total = all.reduce((s, r) => ({ count: s.count + r.count, of: s.of + r.of }), { count: 0, of: 0 });
  return [...confusion.keys()].map((group, g) => {
    const mine = all[g];
    const rest = { count: total.count - mine.count, of: total.of - mine.of };
    const restRate = rest.of > 0 ? rest.count / rest.of : 0;
    const myRate = mine.of > 0 ? mine.count / mine.of : 0;
    const pValue = fisherGreater(mine.count, mine.of, rest.count, rest.of);
    return {
      group,
      poolCount: context.pool.filter((p) => p === group).length,
      poolShare: share(context.pool, group),
      prototypeShare: share(context.prototypes, group),
      intoClass: rate(mine),
      restIntoClass: rate(rest),
      rateRatio: restRate > 0 ? myRate / restRate : null,
      pValue,
      adjustedPValue: Math.min(1, pValue * context.comparisons),
    };
  });
}

/**
 * The groups that make a class `flagged`: predicted into it at >= `ratio` x the rest's rate (an
 * infinite ratio counts when the group's rate is positive), with Bonferroni-adjusted p < alpha.
 */
export function flaggedGroups(findings: GroupFindingReport[], ratio: number, alpha: number): string[] {
  return findings
    .filter((f) => (f.rateRatio === null ? f.intoClass.rate > 0 : f.rateRatio >= ratio) && f.adjustedPValue < alpha)
    .map((f) => f.group);
}
