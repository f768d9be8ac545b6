/**
 * Group statistics of one class, in both directions:
 * - pulled into the class: the rate at which a group's images of *other* labels are predicted as
 *   the class, against the other groups', stratified by true label (stratified.ts: the exact CMH
 *   test and the Mantel-Haenszel rate ratio; the pooled Fisher test is kept beside it);
 * - the class's accuracy: the share of a group's images *of* the class predicted as it, against
 *   the other groups' (one-sided Fisher exact test of the group's error rate being higher).
 * And each group's share of the class's pool and prototypes. The p-values here are raw; the stage
 * adjusts them over the whole family of tests (holm.ts).
 *
 * @example
 * ```ts
 * import type { FeatureTable } from "../explain/features.ts";
 * import type { Groups } from "./groups.ts";
 * declare const table: FeatureTable, groups: Groups;
 * declare const pool: (string | undefined)[], prototypes: (string | undefined)[]; // class 7's rows' groups
 * const confusion = confusionByGroup(table, groups, 10);
 * const findings = groupFindings(confusion, 7, { classes: 10, pool, prototypes });
 * ```
 */
import { fisherGreater } from "./fisher.ts";
import type { Groups } from "./groups.ts";
import {
  exactStratifiedGreater,
  mantelHaenszelOddsRatio,
  mantelHaenszelRateRatio,
  type Stratum,
} from "./stratified.ts";
import type { GroupFindingReport } from "../schema/bias.ts";

/** Per group, a classes x classes confusion matrix: [label * classes + predicted] counts. */
export type GroupConfusion = Map<string, Int32Array>;

/** A group finding before the family-wide adjustment of its p-values. */
export type RawGroupFinding = Omit<GroupFindingReport, "adjustedPValue" | "accuracyAdjustedPValue">;

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

/** Images of label `l` in a confusion matrix (predictions in `dropped` left out), and how many were predicted `label`. */
function labelRow(counts: Int32Array, classes: number, l: number, label: number, dropped: ReadonlySet<number>) {
  let of = 0;
  for (let p = 0; p < classes; p++) if (!dropped.has(p)) of += counts[l * classes + p];
  return { count: counts[l * classes + label], of };
}

/**
 * The strata of "group `group` pulled into class `label`": one per other true label, the group
 * against the other groups. Images predicted as a class in `dropped` are left out (the mirror test).
 */
export function intoClassStrata(
  confusion: GroupConfusion,
  group: string,
  label: number,
  classes: number,
  dropped: ReadonlySet<number> = new Set(),
): Stratum[] {
  const strata: Stratum[] = [];
  for (let l = 0; l < classes; l++) {
    if (l === label) continue;
    let a = 0, n1 = 0, m = 0, n0 = 0;
    for (const [g, counts] of confusion) {
      const row = labelRow(counts, classes, l, label, dropped);
      m += row.count;
      if (g === group) (a = row.count, n1 = row.of);
      else n0 += row.of;
    }
    if (n1 + n0 > 0) strata.push({ a, n1, n0, m });
  }
  return strata;
}

/** The stratified test of a group pulled into a class: exact CMH p and the Mantel-Haenszel ratios. */
export function intoClassTest(strata: readonly Stratum[]): {
  pValue: number;
  rateRatio: number | null;
  oddsRatio: number | null;
} {
  return {
    pValue: exactStratifiedGreater(strata),
    rateRatio: mantelHaenszelRateRatio(strata),
    oddsRatio: mantelHaenszelOddsRatio(strata),
  };
}

const rate = (r: { count: number; of: number }) => ({ ...r, rate: r.of > 0 ? r.count / r.of : 0 });
const ratio = (a: { count: number; of: number }, b: { count: number; of: number }) => {
  const rest = b.of > 0 ? b.count / b.of : 0;
  return rest > 0 ? (a.of > 0 ? a.count / a.of : 0) / rest : null;
};

/** The group findings of class `label`: pool and prototype group names give the shares. */
export function groupFindings(
  confusion: GroupConfusion,
  label: number,
  context: { classes: number; pool: (string | undefined)[]; prototypes: (string | undefined)[] },
): RawGroupFinding[] {
  const { classes } = context;
  const share = (names: (string | undefined)[], group: string) =>
    names.length > 0 ? names.filter((g) => g === group).length / names.length : 0;
  const none = new Set<number>();
  const sum = (rows: { count: number; of: number }[]) =>
    rows.reduce((s, r) => ({ count: s.count + r.count, of: s.of + r.of }), { count: 0, of: 0 });
  return [...confusion.keys()].map((group) => {
    const strata = intoClassStrata(confusion, group, label, classes);
    const mine = sum(strata.map((s) => ({ count: s.a, of: s.n1 })));
    const rest = sum(strata.map((s) => ({ count: s.m - s.a, of: s.n0 })));
    const stratified = intoClassTest(strata);
    // The class's own images: correct ones, and errors (the direction tested).
    const own = (g: string) => labelRow(confusion.get(g)!, classes, label, label, none);
    const myOwn = own(group);
    const restOwn = sum([...confusion.keys()].filter((g) => g !== group).map(own));
    const errors = (r: { count: number; of: number }) => ({ count: r.of - r.count, of: r.of });
    return {
      group,
      poolCount: context.pool.filter((p) => p === group).length,
      poolShare: share(context.pool, group),
      prototypeShare: share(context.prototypes, group),
      intoClass: rate(mine),
      restIntoClass: rate(rest),
      rateRatio: ratio(mine, rest),
      stratifiedRateRatio: stratified.rateRatio,
      oddsRatio: stratified.oddsRatio,
      pValue: stratified.pValue,
      pooledPValue: fisherGreater(mine.count, mine.of, rest.count, rest.of),
      accuracy: rate(myOwn),
      restAccuracy: rate(restOwn),
      errorRatio: ratio(errors(myOwn), errors(restOwn)),
      accuracyPValue: fisherGreater(myOwn.of - myOwn.count, myOwn.of, restOwn.of - restOwn.count, restOwn.of),
    };
  });
}

/** A ratio reaches `threshold`; an infinite one (the rest at 0) counts when the group's own rate is positive. */
export function reaches(ratioValue: number | null, groupRate: number, threshold: number): boolean {
  return ratioValue === null ? groupRate > 0 : ratioValue >= threshold;
}
