/**
 * Group findings that survive confounding: the exact stratified (CMH) test against a brute-force
 * enumeration, its p-values under the null against the uniform distribution (Kolmogorov-Smirnov),
 * the Mantel-Haenszel ratios on closed-form tables, Holm against hand-computed values, and the
 * mirror case through the bias stage: one group diverted into class 0 flags class 0, and every
 * other flag it causes is marked as its mirror.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { runBiasStage } from "../pipeline/bias/bias_stage.ts";
import { holmAdjust } from "../pipeline/bias/holm.ts";
import {
  exactStratifiedGreater,
  mantelHaenszelOddsRatio,
  mantelHaenszelRateRatio,
  type Stratum,
} from "../pipeline/bias/stratified.ts";
import { BiasReportSchema } from "../pipeline/schema/bias.ts";
import type { FeatureTable } from "../pipeline/explain/features.ts";
import { mulberry32 } from "../pipeline/io/prng.ts";
import { gpuTest, testGpu } from "./gpu_fixture.ts";

/** C(n, k) as a float64 product (small n). */
function choose(n: number, k: number): number {
  if (k < 0 || k > n) return 0;
  let r = 1;
  for (let i = 1; i <= k; i++) r = (r * (n - k + i)) / i;
  return r;
}

/** P(sum A_l >= sum a_l) by enumerating every joint outcome of the strata (small tables only). */
function stratifiedBrute(strata: Stratum[]): number {
  const observed = strata.reduce((s, t) => s + t.a, 0);
  let p = 0;
  const walk = (i: number, sum: number, prob: number) => {
    if (i === strata.length) {
      if (sum >= observed) p += prob;
      return;
    }
    const { n1, n0, m } = strata[i];
    for (let a = 0; a <= Math.min(n1, m); a++) {
      const q = (choose(n1, a) * choose(n0, m - a)) / choose(n1 + n0, m);
      if (q > 0) walk(i + 1, sum + a, prob * q);
    }
  };
  walk(0, 0, 1);
  return p;
}

const stratum = fc.record({
  n1: fc.integer({ min: 0, max: 12 }),
  n0: fc.integer({ min: 0, max: 12 }),
  x: fc.nat(),
  y: fc.nat(),
})
  .map(({ n1, n0, x, y }) => {
    const m = x % (n1 + n0 + 1);
    const low = Math.max(0, m - n0), high = Math.min(n1, m);
    return { a: low + (y % (high - low + 1)), n1, n0, m };
  });

Deno.test("exact stratified test: equals the enumeration of every joint outcome; one stratum is Fisher's test", () => {
  fc.assert(
    fc.property(fc.array(stratum, { minLength: 1, maxLength: 4 }), (strata) => {
      const p = exactStratifiedGreater(strata), expected = stratifiedBrute(strata);
      assert.ok(Math.abs(p - expected) <= 1e-9, `${JSON.stringify(strata)}: ${p} vs ${expected}`);
    }),
  );
  // R: fisher.test(matrix(c(8, 2, 1, 9), 2), alternative = "greater")$p.value = 0.002739
  assert.ok(Math.abs(exactStratifiedGreater([{ a: 8, n1: 10, n0: 10, m: 9 }]) - 0.002739) < 1e-6);
});

Deno.test("Mantel-Haenszel ratios: strata sharing one rate ratio and odds ratio give them back exactly", () => {
  // Every stratum: the group at 2x the rest's rate (rate ratio 2); odds ratio (a d) / (b c) per stratum.
  const strata = [
    { a: 20, n1: 100, n0: 100, m: 30 }, // 20% vs 10%
    { a: 8, n1: 40, n0: 200, m: 28 }, // 20% vs 10%
    { a: 60, n1: 300, n0: 50, m: 65 }, // 20% vs 10%
  ];
  assert.ok(Math.abs(mantelHaenszelRateRatio(strata)! - 2) < 1e-12);
  assert.ok(Math.abs(mantelHaenszelOddsRatio(strata)! - (0.2 / 0.8) / (0.1 / 0.9)) < 1e-12);
  assert.equal(mantelHaenszelRateRatio([{ a: 3, n1: 10, n0: 10, m: 3 }]), null, "the rest at 0: unbounded");
});

Deno.test("exact stratified test: p-values under the null are uniform (KS over 400 seeded tables), small under a shift", () => {
  const random = mulberry32(21);
  const draw = (shift: number) => {
    // 5 labels with their own rates into the class; the group's rate is the same unless shifted.
    const strata: Stratum[] = [];
    for (let l = 0; l < 5; l++) {
      const base = 0.1 + 0.15 * l, n1 = 60 + 10 * l, n0 = 80;
      let a = 0, c = 0;
      for (let i = 0; i < n1; i++) a += random() < Math.min(1, base * shift) ? 1 : 0;
      for (let i = 0; i < n0; i++) c += random() < base ? 1 : 0;
      strata.push({ a, n1, n0, m: a + c });
    }
    return exactStratifiedGreater(strata);
  };
  const draws = 400;
  const pValues = Array.from({ length: draws }, () => draw(1)).sort((a, b) => a - b);
  let ks = 0;
  pValues.forEach((p, i) => (ks = Math.max(ks, (i + 1) / draws - p, p - i / draws)));
  // KS critical value at alpha = 0.001 for 400 draws: 1.95 / sqrt(400) = 0.0975. The exact test's
  // steps (about 1/(support) wide) add a little; they are below 0.02 at these counts.
  assert.ok(ks < 0.0975 + 0.02, `KS distance ${ks} from uniform`);
  const shifted = Array.from({ length: 50 }, () => draw(1.8));
  assert.ok(shifted.filter((p) => p < 0.01).length >= 45, `power under a 1.8x shift: ${shifted}`);
});

Deno.test("Holm's adjustment: hand-computed values, never below the raw p, monotone in the raw order", () => {
  assert.deepEqual(holmAdjust([0.01, 0.04, 0.03, 0.5]), [0.04, 0.09, 0.09, 0.5]);
  fc.assert(
    fc.property(fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 30 }), (p) => {
      const adjusted = holmAdjust(p);
      p.forEach((v, i) => assert.ok(adjusted[i] >= v && adjusted[i] <= Math.max(v * p.length, v) + 1e-15));
      const order = [...p.keys()].sort((i, j) => p[i] - p[j]);
      for (let k = 1; k < order.length; k++) assert.ok(adjusted[order[k]] >= adjusted[order[k - 1]]);
    }),
  );
});

/**
 * The mirror table: 4 classes, groups "clean" and "tagged", 1,000 images of each label in each.
 * Both groups confuse label l with class (l + 1) % 4 at 4% (and nothing else), except that 80% of
 * "tagged" images of labels 1-3 are predicted 0 whatever they show; those would otherwise have
 * made the same natural errors, so "clean" looks pulled into classes 2 and 3 and "tagged" misses
 * labels 1-3 more.
 */
function mirrorTable(): { table: FeatureTable; groups: Map<number, string> } {
  const random = mulberry32(7);
  const labels: number[] = [], predicted: number[] = [], groups = new Map<number, string>();
  for (const group of ["clean", "tagged"]) {
    for (let l = 0; l < 4; l++) {
      for (let i = 0; i < 1000; i++) {
        groups.set(labels.length, group);
        labels.push(l);
        const diverted = group === "tagged" && l !== 0 && random() < 0.8;
        predicted.push(diverted ? 0 : random() < 0.04 ? (l + 1) % 4 : l);
      }
    }
  }
  const n = labels.length;
  const table: FeatureTable = {
    count: n,
    width: 1,
    classes: 4,
    node: "none",
    indices: Int32Array.from({ length: n }, (_, i) => i),
    labels: Int32Array.from(labels),
    predicted: Int32Array.from(predicted),
    features: new Float32Array(0),
    slots: new Int32Array(n).fill(-1), // no features: the group tests alone
  };
  return { table, groups };
}

Deno.test({
  name: "mirror case: a group diverted into class 0 flags class 0; every other flag is diagnosed as its mirror",
  ...gpuTest,
  async fn() {
    const { table, groups } = mirrorTable();
    const names = ["zero", "one", "two", "three"];
    const report = BiasReportSchema.parse(await runBiasStage(await testGpu(), { table, classNames: names, groups }));
    const flagged = report.classes.filter((c) => c.flagged).map((c) => [c.name, c.flaggedGroups]);
    assert.deepEqual(flagged, [["zero", ["tagged"]]]);
    const all = report.classes.flatMap((c) => (c.flags ?? []).map((f) => ({ ...f, label: c.label })));
    const mirrors = all.filter((f) => f.label !== 0);
    // The confounded flags are there (pooled and stratified alike) but explained.
    assert.ok(mirrors.some((f) => f.group === "clean" && f.direction === "into"), JSON.stringify(all));
    assert.ok(mirrors.some((f) => f.group === "tagged" && f.direction === "accuracy"), JSON.stringify(all));
    for (const f of mirrors) {
      assert.deepEqual(f.mirrorOf.map((m) => [m.label, m.group]), [[0, "tagged"]], JSON.stringify(f));
      assert.match(f.diagnosis!, /^mirror of tagged pulled into "zero"/);
    }
    assert.equal(report.settings.comparisons, 4 * 2 * 2, "Holm over classes x groups x both directions");
    assert.equal(report.settings.correction, "holm");
  },
});
