/**
 * The flags of the group tests, and which of them mirror another. A group diverted into class A
 * leaves the other labels' classes less often, so beside the flag on A the *other* groups look
 * pulled into those classes (and the diverted group misses its own labels more). Each candidate
 * flag is re-tested with the images predicted as the other flags' classes left out: a flag that
 * then falls below the thresholds, when one of those other flags stands on its own, is a mirror
 * and gets a diagnosis line. Its own image counts were never pulled anywhere: they were just not
 * diverted. A lower accuracy of a group on a class that another group is pulled into is the same
 * cue seen from the other side, and is marked as its mirror too.
 *
 * @example
 * ```ts
 * import type { GroupConfusion } from "./group_rates.ts";
 * import type { GroupFindingReport } from "../schema/bias.ts";
 * declare const confusion: GroupConfusion, findings: GroupFindingReport[][]; // per class
 * const flags = groupFlags(findings, confusion, { names: ["0", "1"], rateRatio: 3, alpha: 0.01 });
 * ```
 */
import { fisherGreater } from "./fisher.ts";
import { type GroupConfusion, intoClassStrata, intoClassTest, reaches } from "./group_rates.ts";
import type { GroupFindingReport, GroupFlagReport } from "../schema/bias.ts";

interface Candidate {
  label: number;
  flag: GroupFlagReport;
  survives: boolean;
  /** The group's rate in the restricted test. */
  restrictedRate?: number;
}

const rate = (c: Candidate) => c.restrictedRate ?? 0;

/** The rest's error count on `label` and this group's, predictions into `dropped` left out. */
function accuracyWithout(
  confusion: GroupConfusion,
  group: string,
  label: number,
  classes: number,
  dropped: Set<number>,
) {
  const mine = { errors: 0, of: 0 }, rest = { errors: 0, of: 0 };
  for (const [g, counts] of confusion) {
    const side = g === group ? mine : rest;
    for (let p = 0; p < classes; p++) {
      if (dropped.has(p)) continue;
      side.of += counts[label * classes + p];
      if (p !== label) side.errors += counts[label * classes + p];
    }
  }
  const rate = (s: { errors: number; of: number }) => (s.of > 0 ? s.errors / s.of : 0);
  return {
    ratio: rate(rest) > 0 ? rate(mine) / rate(rest) : null,
    rate: rate(mine),
    pValue: fisherGreater(mine.errors, mine.of, rest.errors, rest.of),
  };
}

const nameList = (labels: number[], names: string[]) => labels.map((l) => `"${names[l]}"`).join(", ");

/**
 * Every flag of every class (`findings[c]` are class c's group findings, p-values adjusted), with
 * mirrors marked and diagnosed. `names` are the class names of all classes.
 */
export function groupFlags(
  findings: readonly (readonly GroupFindingReport[] | undefined)[],
  confusion: GroupConfusion,
  settings: { names: string[]; rateRatio: number; alpha: number },
): GroupFlagReport[][] {
  const { names, rateRatio, alpha } = settings;
  const classes = names.length;
  const candidates: Candidate[] = [];
  findings.forEach((groups, label) => {
    for (const f of groups ?? []) {
      const base = { group: f.group, restricted: null, mirrorOf: [], diagnosis: null };
      if (reaches(f.stratifiedRateRatio ?? null, f.intoClass.rate, rateRatio) && f.adjustedPValue < alpha) {
        const flag = { ...base, direction: "into" as const, ratio: f.stratifiedRateRatio ?? null };
        candidates.push({ label, flag: { ...flag, adjustedPValue: f.adjustedPValue }, survives: true });
      }
      const p = f.accuracyAdjustedPValue ?? 1, errorRate = 1 - (f.accuracy?.rate ?? 1);
      if (f.accuracy && reaches(f.errorRatio ?? null, errorRate, rateRatio) && p < alpha) {
        const flag = { ...base, direction: "accuracy" as const, ratio: f.errorRatio ?? null, adjustedPValue: p };
        candidates.push({ label, flag, survives: true });
      }
    }
  });
  const into = candidates.filter((c) => c.flag.direction === "into");
  // Into flags: re-tested without the classes other groups are flagged into.
  for (const c of into) {
    const others = into.filter((o) => o.label !== c.label && o.flag.group !== c.flag.group);
    if (others.length === 0) continue;
    const without = [...new Set(others.map((o) => o.label))].sort((a, b) => a - b);
    const strata = intoClassStrata(confusion, c.flag.group, c.label, classes, new Set(without));
    const test = intoClassTest(strata);
    const rate = strata.reduce((s, t) => s + t.a, 0) / Math.max(1, strata.reduce((s, t) => s + t.n1, 0));
    c.flag.restricted = { without, ratio: test.rateRatio, pValue: test.pValue };
    c.restrictedRate = rate;
    c.survives = reaches(test.rateRatio, rate, rateRatio) && test.pValue < alpha;
  }
  const standing = into.filter((c) => c.survives);
  for (const c of into) {
    if (c.survives) continue;
    const mirrored = standing.filter((o) => c.flag.restricted!.without.includes(o.label));
    if (mirrored.length === 0) continue; // no flag of its own to explain it: it stands
    const { group } = c.flag, r = c.flag.restricted!;
    const to = nameList(r.without, names), by = [...new Set(mirrored.map((m) => m.flag.group))].join(", ");
    c.flag.mirrorOf = mirrored.map((m) => ({ label: m.label, group: m.flag.group, direction: "into" as const }));
    c.flag.diagnosis = `mirror of ${by} pulled into ${nameList(mirrored.map((m) => m.label), names)}: without the ` +
      `images predicted ${to}, ${group} is predicted "${names[c.label]}" at ${fmtRatio(r.ratio, rate(c))} the other ` +
      `groups' rate (p ${r.pValue.toPrecision(2)}); ${by}'s images went to ${to} instead, lowering their rate here`;
  }
  // Accuracy flags: re-counted without the classes the same group is pulled into; else the same cue seen from the other side.
  for (const c of candidates.filter((c) => c.flag.direction === "accuracy")) {
    const { group } = c.flag;
    const pulled = standing.filter((o) => o.flag.group === group && o.label !== c.label);
    if (pulled.length > 0) {
      const without = pulled.map((o) => o.label).sort((a, b) => a - b);
      const test = accuracyWithout(confusion, group, c.label, classes, new Set(without));
      c.flag.restricted = { without, ratio: test.ratio, pValue: test.pValue };
      if (!(reaches(test.ratio, test.rate, rateRatio) && test.pValue < alpha)) {
        c.flag.mirrorOf = pulled.map((o) => ({ label: o.label, group, direction: "into" as const }));
        c.flag.diagnosis = `mirror of ${group} pulled into ${nameList(without, names)}: ${group}'s images of ` +
          `"${names[c.label]}" that are missed went there (without them: ${
            fmtRatio(test.ratio, test.rate)
          } the other groups' ` +
          `error rate, p ${test.pValue.toPrecision(2)})`;
        continue;
      }
    }
    const helped = standing.filter((o) => o.label === c.label && o.flag.group !== group);
    if (helped.length === 0) {
      const r = c.flag.restricted;
      // Partly a mirror: say how much stands without the classes the group is pulled into.
      const beyond = r && `; without the images predicted ${nameList(r.without, names)}, where ${group} is pulled, ` +
          `still ${fmtRatio(r.ratio, 1)} the other groups' error rate (p ${r.pValue.toPrecision(2)})`;
      c.flag.diagnosis = (missedTo(confusion.get(group)!, group, c.label, names) ?? "") + (beyond || "") || null;
      continue;
    }
    const by = [...new Set(helped.map((o) => o.flag.group))].join(", ");
    c.flag.mirrorOf = helped.map((o) => ({ label: o.label, group: o.flag.group, direction: "into" as const }));
    c.flag.diagnosis = `mirror of ${by} pulled into "${names[c.label]}": the cue that pulls ${by}'s other images in ` +
      `also helps ${by}'s own "${names[c.label]}" images, so ${group}'s look missed more by comparison`;
  }
  const out: GroupFlagReport[][] = findings.map(() => []);
  for (const c of candidates) out[c.label].push(c.flag);
  return out;
}

/** Where a group's missed images of a class went most: "marked's missed "4" images: 40 of 48 predicted "9"". */
function missedTo(counts: Int32Array, group: string, label: number, names: string[]): string | null {
  const classes = names.length;
  let top = -1, missed = 0;
  for (let p = 0; p < classes; p++) {
    if (p === label) continue;
    missed += counts[label * classes + p];
    if (top < 0 || counts[label * classes + p] > counts[label * classes + top]) top = p;
  }
  if (missed === 0) return null;
  return `${group}'s missed "${names[label]}" images: ${counts[label * classes + top]} of ${missed} predicted ` +
    `"${names[top]}"`;
}

/** "2.50×"; a null ratio (the rest at 0) is unbounded when the group's rate is positive, else both are 0. */
function fmtRatio(ratio: number | null, groupRate: number): string {
  if (ratio !== null) return `${ratio.toFixed(2)}×`;
  return groupRate > 0 ? "an unbounded multiple of" : "0, as";
}
