import assert from "node:assert/strict";
import fc from "fast-check";
import { runBiasStage } from "../pipeline/bias/bias_stage.ts";
import { fisherGreater } from "../pipeline/bias/fisher.ts";
import { confusionByGroup, groupFindings } from "../pipeline/bias/group_rates.ts";
import { formatGroupsCsv, parseGroupsCsv } from "../pipeline/bias/groups.ts";
import { BiasReportSchema } from "../pipeline/schema/bias.ts";
import { mulberry32 } from "../pipeline/io/prng.ts";
import type { FeatureTable } from "../pipeline/explain/features.ts";
import { InputError } from "../pipeline/io/input_error.ts";
import { gpuTest, testGpu } from "./gpu_fixture.ts";

Deno.test("groups CSV: parses index,group rows; round-trips; bad rows are InputErrors naming file and line", () => {
  const groups = parseGroupsCsv("\uFEFFindex,group\r\n3,marked\r\n0, clean\r\n\r\n", "g.csv", { count: 4 });
  assert.deepEqual([...groups], [[3, "marked"], [0, "clean"]]);
  assert.deepEqual(parseGroupsCsv(formatGroupsCsv(groups), "again.csv"), new Map([[0, "clean"], [3, "marked"]]));
  const bad: [string, RegExp][] = [
    ["id,group\n0,a\n", /g\.csv:1: the header must be "index,group"/],
    ["index,group\n0,a,b\n", /g\.csv:2: expected 2 fields/],
    ["index,group\n0,a\n-1,b\n", /g\.csv:3: index "-1" is not a whole number/],
    ["index,group\n1.5,a\n", /g\.csv:2: index "1\.5" is not a whole number/],
    ["index,group\n0,\n", /g\.csv:2: group name "" is empty/],
    ["index,group\n0,a\n0,b\n", /g\.csv:3: index 0 is listed twice/],
    ["index,group\n9,a\n", /g\.csv:2: index 9 is past the data set's last example \(3\)/],
    ["index,group\n", /g\.csv: no rows after the header/],
  ];
  for (const [text, message] of bad) {
    assert.throws(
      () => parseGroupsCsv(text, "g.csv", { count: 4 }),
      (e: Error) => e instanceof InputError && message.test(e.message),
    );
  }
});

/** P(K1 >= k1) by summing the hypergeometric probabilities directly (small counts, float64). */
function fisherBrute(k1: number, n1: number, k2: number, n2: number): number {
  const choose = (n: number, k: number) => {
    let r = 1;
    for (let i = 1; i <= k; i++) r = (r * (n - k + i)) / i;
    return r;
  };
  let p = 0;
  for (let k = k1; k <= Math.min(n1, k1 + k2); k++) {
    p += (choose(n1, k) * choose(n2, k1 + k2 - k)) / choose(n1 + n2, k1 + k2);
  }
  return p;
}

Deno.test("Fisher's exact test (one-sided) matches direct hypergeometric sums and a published value", () => {
  assert.ok(Math.abs(fisherGreater(8, 10, 1, 10) - 0.002739) < 1e-6); // R: fisher.test(..., alternative = "greater")
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 40 }),
      fc.integer({ min: 0, max: 40 }),
      fc.nat(),
      fc.nat(),
      (n1, n2, a, b) => {
        const k1 = n1 > 0 ? a % (n1 + 1) : 0, k2 = n2 > 0 ? b % (n2 + 1) : 0;
        const p = fisherGreater(k1, n1, k2, n2), expected = fisherBrute(k1, n1, k2, n2);
        assert.ok(
          Math.abs(p - expected) <= 1e-9 * Math.max(1, expected),
          `${k1}/${n1} vs ${k2}/${n2}: ${p} vs ${expected}`,
        );
      },
    ),
  );
  assert.ok(fisherGreater(300, 1000, 3, 1000) < 1e-80, "tiny p-values do not underflow early");
});

Deno.test("group rates: counts of other labels predicted into a class and of the class's accuracy, per group and for the rest", () => {
  // 3 classes; group "b" images of labels 0 and 2 go to class 1 at 20%, group "a" at 2%.
  const labels: number[] = [], predicted: number[] = [], groups = new Map<number, string>();
  for (let i = 0; i < 1000; i++) {
    const label = [0, 2][i % 2], group = i < 500 ? "a" : "b";
    labels.push(label);
    predicted.push((group === "b" ? i % 10 < 2 : i % 50 === 0) ? 1 : label);
    groups.set(i, group);
  }
  const table = {
    indices: Int32Array.from(labels, (_, i) => i),
    labels: Int32Array.from(labels),
    predicted: Int32Array.from(predicted),
  };
  const confusion = confusionByGroup(table, groups, 3);
  const pool = predicted.flatMap((p, i) => (p === 1 ? [groups.get(i)] : []));
  const findings = groupFindings(confusion, 1, { classes: 3, pool, prototypes: ["b", "b", "a", "b"] });
  const [a, b] = findings;
  assert.deepEqual([a.group, b.group], ["a", "b"]);
  assert.deepEqual(b.intoClass, { count: 100, of: 500, rate: 0.2 });
  assert.deepEqual(b.restIntoClass, { count: 10, of: 500, rate: 0.02 });
  assert.ok(Math.abs(b.rateRatio! - 10) < 1e-12);
  assert.equal(b.prototypeShare, 0.75);
  assert.ok(Math.abs(b.poolShare - 100 / 110) < 1e-12);
  // Both labels carry the same 10x ratio, so the stratified (Mantel-Haenszel) ratio is 10 too.
  assert.ok(Math.abs(b.stratifiedRateRatio! - 10) < 1e-12);
  assert.ok(b.pValue < 1e-20 && b.pooledPValue! < 1e-20 && a.pValue > 0.5);
  // No image of label 1: accuracy on class 1 has nothing to count.
  assert.deepEqual(b.accuracy, { count: 0, of: 0, rate: 0 });
  assert.equal(b.accuracyPValue, 1);
});

Deno.test({
  name: "bias stage: synthetic features with a group pulled into class 1 flag class 1 only; the report validates",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    const random = mulberry32(4);
    const n = 600, width = 6, classes = 3;
    const labels = Int32Array.from({ length: n }, (_, i) => i % classes);
    const group = (i: number) => (i % 4 === 0 ? "b" : "a");
    // Group b's images of labels 0 and 2 are predicted 1 half the time; features follow the prediction,
    // and group b's carry an offset in the last coordinate.
    const predicted = labels.map((l, i) => (group(i) === "b" && l !== 1 && random() < 0.5 ? 1 : l));
    const features = new Float32Array(n * width);
    predicted.forEach((p, i) => {
      for (let k = 0; k < width; k++) features[i * width + k] = (k === p ? 3 : 0) + random() * 0.5;
      if (group(i) === "b") features[i * width + width - 1] += 1.5;
    });
    const table: FeatureTable = {
      count: n,
      width,
      classes,
      node: "synthetic",
      indices: Int32Array.from({ length: n }, (_, i) => 1000 + i),
      labels,
      predicted,
      features,
      slots: Int32Array.from({ length: n }, (_, i) => i),
    };
    const groups = new Map(Array.from({ length: n }, (_, i) => [1000 + i, group(i)]));
    const report = BiasReportSchema.parse(
      await runBiasStage(gpu, { table, classNames: ["zero", "one", "two"], groups }, { permutations: 200, seed: 2 }),
    );
    assert.deepEqual(report.classes.map((c) => c.flagged), [false, true, false]);
    const one = report.classes[1];
    assert.deepEqual(one.flaggedGroups, ["b"]);
    assert.equal(one.prototypes.length, 8);
    assert.equal(one.criticisms.length, 4);
    assert.ok(one.prototypes.every((p) => predicted[p.index - 1000] === 1), "prototypes come from the class's pool");
    assert.ok(one.mmd![0].pValue < 0.01, `MMD a vs b in class 1: p ${one.mmd![0].pValue}`);
    // Holm's family: 3 classes x 2 groups x both directions, and one MMD test per class with two groups.
    assert.equal(report.settings.comparisons, 12 + report.classes.reduce((s, c) => s + (c.mmd?.length ?? 0), 0));
  },
});
