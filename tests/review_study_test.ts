/**
 * The study's design and its statistics: the audit's study sample (allocation, bottom-k samples
 * independent of batching), the plan's deal (k distinct reviewers per item, balanced loads, the
 * explanation balanced within each item), the statistics against independent computations (Wilson's
 * closed form, Fisher's test by SciPy and by the definition, Krippendorff's alpha by pairs), and the
 * CSV export and import (the same figures back).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import fc from "fast-check";
import { allocate, BottomK, sampleKey, sampleMistakes } from "../pipeline/audit/study_sample.ts";
import type { MistakeItem } from "../pipeline/audit/mistakes.ts";
import { InputError } from "../pipeline/io/input_error.ts";
import {
  appendJudgments,
  fisherExact,
  judgmentsCsv,
  krippendorffAlpha,
  makePlan,
  parseJudgmentsCsv,
  readJudgments,
  type ReviewItem,
  reviewSummary,
  stratifiedShare,
  type StudyPopulation,
  wilson,
} from "../pipeline/review/mod.ts";
import { runCli } from "./cli_helpers.ts";
import { sampleReportFolder } from "./report_fixture.ts";
import { judge } from "./review_helpers.ts";
import { startReviewServer } from "../pipeline/review/mod.ts";

const Z = 1.959963984540054;

Deno.test("allocate: the sample's size, within each stratum's size, one per stratum when it can, proportional within one", () => {
  assert.deepEqual(allocate([30, 10, 1], 8), [5, 2, 1]);
  assert.deepEqual(allocate([3, 2], 10), [3, 2]);
  // One from each of six strata fills a sample of 6; of 8, the two left go to the only stratum with more.
  assert.deepEqual(allocate([6, 1, 1, 1, 1, 1], 6), [1, 1, 1, 1, 1, 1]);
  assert.deepEqual(allocate([6, 1, 1, 1, 1, 1], 8), [3, 1, 1, 1, 1, 1]);
  fc.assert(
    fc.property(fc.array(fc.nat(60), { minLength: 1, maxLength: 6 }), fc.nat(100), (sizes, size) => {
      const out = allocate(sizes, size);
      const total = sizes.reduce((s, n) => s + n, 0);
      assert.equal(out.reduce((s, n) => s + n, 0), Math.min(size, total));
      const nonEmpty = sizes.filter((n) => n > 0).length;
      // One from each stratum when the sample can hold it; the rest is shared in proportion to what each
      // stratum has left, each share within one of its quota (largest remainders).
      const minimum = sizes.map((n): number => (size >= nonEmpty && n > 0 ? 1 : 0));
      const room = sizes.map((n, h) => n - minimum[h]);
      const roomTotal = room.reduce((s, n) => s + n, 0);
      const left = size - minimum.reduce((s, n) => s + n, 0);
      for (const [h, n] of out.entries()) {
        assert.ok(n >= 0 && n <= sizes[h]);
        assert.ok(n >= minimum[h]);
        if (size < total) {
          const quota = left * room[h] / roomTotal;
          assert.ok(Math.abs(n - minimum[h] - quota) < 1, `${sizes} ${size}: ${out}`);
        }
      }
    }),
  );
});

Deno.test("BottomK: the same sample whatever the batches and their order; the k smallest keys of all", () => {
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.nat(5000), { maxLength: 80 }),
      fc.nat(20),
      fc.nat(),
      fc.array(fc.nat(10), { maxLength: 10 }),
      (indices, k, seed, cuts) => {
        const items = indices.map((index) => ({ index, label: 0, epsilon: 0.1 }));
        const whole = new BottomK<typeof items[number]>(k, seed);
        whole.add(items);
        // Cut into batches, added last batch first.
        const parts: (typeof items)[] = [];
        let at = 0;
        for (const c of cuts) parts.push(items.slice(at, at += c));
        parts.push(items.slice(at));
        const split = new BottomK<typeof items[number]>(k, seed);
        for (const part of parts.reverse()) split.add(part);
        assert.deepEqual(split.items, whole.items);
        assert.equal(split.seen, items.length);
        const expected = [...indices].sort((a, b) => sampleKey(seed, a) - sampleKey(seed, b) || a - b).slice(0, k)
          .sort((a, b) => a - b);
        assert.deepEqual(whole.items.map((i) => i.index), expected);
      },
    ),
  );
});

Deno.test("sampleMistakes: strata partition the mistakes, each sampled as allocated, a census when the size allows", () => {
  const mistake = (index: number, kind: number): MistakeItem => ({
    index,
    label: 0,
    predicted: 1,
    top: [1, 0],
    confidence: 0.9,
    margin: 0.5,
    labelInTop5: kind === 1,
    sameSuperclass: false,
    lowMargin: kind === 2,
    distance: 2,
  });
  const mistakes = Array.from({ length: 40 }, (_, i) => mistake(i, i % 4 === 0 ? 2 : i % 4 === 1 ? 0 : 1));
  const { population, items } = sampleMistakes(mistakes, 8, 3);
  assert.deepEqual(population, { lowMargin: 10, unexplained: 10, labelInTop5: 20 });
  const per = (s: string) => items.filter((i) => i.stratum === s).length;
  assert.deepEqual([per("labelInTop5"), per("lowMargin"), per("unexplained")], [4, 2, 2]);
  assert.equal(new Set(items.map((i) => i.index)).size, 8);
  assert.equal(sampleMistakes(mistakes, 40, 3).items.length, 40);
  assert.notDeepEqual(sampleMistakes(mistakes, 8, 4).items, items, "another seed, another sample");
});

/** Items of two kinds, all in stratum "s". */
function studyItems(mistakes: number, adversarial: number): ReviewItem[] {
  const item = (kind: "mistake" | "adversarial", index: number): ReviewItem => ({
    id: `${kind}:${index}`,
    kind,
    index,
    label: 0,
    predicted: 1,
    image: "assets/x.png",
    saliency: "assets/y.png",
    attack: kind === "mistake" ? null : { name: "pgd", epsilon: 0.1 },
    stratum: "s",
  });
  return [
    ...Array.from({ length: mistakes }, (_, i) => item("mistake", i)),
    ...Array.from({ length: adversarial }, (_, i) => item("adversarial", i)),
  ];
}

Deno.test("makePlan: each item to k distinct reviewers, loads within one, the explanation balanced within each item", () => {
  fc.assert(
    fc.property(
      fc.nat(30),
      fc.nat(30),
      fc.integer({ min: 1, max: 7 }),
      fc.integer({ min: 1, max: 5 }),
      fc.nat(),
      fc.constantFrom("shown", "hidden", "both") as fc.Arbitrary<"shown" | "hidden" | "both">,
      (m, a, reviewersCount, k, seed, label) => {
        const items = studyItems(m, a);
        const reviewers = Array.from({ length: reviewersCount }, (_, i) => ({ id: `r${i + 1}`, name: `n${i}` }));
        const population: StudyPopulation = {
          sample: "random",
          strata: { mistake: { s: 100 }, adversarial: { s: 50 } },
        };
        const plan = makePlan(items, population, reviewers, { perItem: k, label, seed });
        const perItem = Math.min(k, reviewersCount);
        assert.equal(plan.perItem, perItem);
        for (const item of items) {
          const mine = plan.assignments.filter((x) => x.item === item.id);
          assert.equal(mine.length, perItem);
          assert.equal(new Set(mine.map((x) => x.reviewer)).size, perItem, "no reviewer twice");
          const shown = mine.filter((x) => x.explanationShown).length;
          assert.ok(Math.abs(2 * shown - perItem) <= 1, "explanation balanced within the item");
          if (label !== "both") assert.ok(mine.every((x) => x.labelShown === (label === "shown")));
        }
        const loads = reviewers.map((r) => plan.assignments.filter((x) => x.reviewer === r.id).length);
        assert.ok(Math.max(...loads) - Math.min(...loads) <= 1, `loads ${loads}`);
        for (const item of plan.items) assert.equal(item.weight, item.kind === "mistake" ? 100 / m : 50 / a);
        assert.deepEqual(
          makePlan(items, population, reviewers, { perItem: k, label, seed }).assignments,
          plan.assignments,
        );
      },
    ),
  );
});

/** Wilson's interval from its closed form (written here, not the module's). */
function wilsonClosedForm(x: number, n: number): [number, number] {
  const p = x / n;
  const a = p + Z * Z / (2 * n), b = Z * Math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n)), c = 1 + Z * Z / n;
  return [(a - b) / c, (a + b) / c];
}

/** Fisher's two-sided p by its definition: the hypergeometric probabilities, by products of binomials. */
function fisherByDefinition(a: number, b: number, c: number, d: number): number {
  const choose = (n: number, k: number) => {
    let r = 1;
    for (let i = 1; i <= k; i++) r = r * (n - k + i) / i;
    return r;
  };
  const r1 = a + b, c1 = a + c, n = a + b + c + d;
  const prob = (x: number) => choose(r1, x) * choose(n - r1, c1 - x) / choose(n, c1);
  const seen = prob(a);
  let p = 0;
  for (let x = Math.max(0, c1 - (n - r1)); x <= Math.min(r1, c1); x++) if (prob(x) <= seen * (1 + 1e-7)) p += prob(x);
  return Math.min(1, p);
}

async function scipy(code: string): Promise<number[]> {
  const { stdout, success } = await new Deno.Command("/usr/bin/python3", {
    args: ["-c", `import scipy.stats as s, json\n${code}`],
    stdout: "piped",
  }).output();
  assert.ok(success, "SciPy ran");
  return JSON.parse(new TextDecoder().decode(stdout));
}

Deno.test("wilson and fisherExact against the closed form, the definition and SciPy", async () => {
  for (const [x, n] of [[0, 12], [8, 10], [3, 7], [50, 50], [1, 1]]) {
    const { lo, hi } = wilson(x, n);
    const [l, h] = wilsonClosedForm(x, n);
    assert.ok(Math.abs(lo - Math.max(0, l)) < 1e-12 && Math.abs(hi - Math.min(1, h)) < 1e-12, `${x}/${n}`);
  }
  const tables = [[1, 4, 2, 2], [2, 1, 0, 3], [8, 2, 1, 5], [10, 10, 10, 10], [0, 5, 5, 0], [3, 1, 1, 3], [
    12,
    30,
    20,
    9,
  ]];
  const fromScipy = await scipy(
    `print(json.dumps([s.fisher_exact([[a, b], [c, d]])[1] for a, b, c, d in ${JSON.stringify(tables)}]))`,
  );
  for (const [i, [a, b, c, d]] of tables.entries()) {
    const p = fisherExact(a, b, c, d);
    assert.ok(Math.abs(p - fromScipy[i]) < 1e-9, `SciPy ${tables[i]}: ${p} vs ${fromScipy[i]}`);
    assert.ok(Math.abs(p - fisherByDefinition(a, b, c, d)) < 1e-9, `definition ${tables[i]}`);
  }
  fc.assert(
    fc.property(fc.nat(15), fc.nat(15), fc.nat(15), fc.nat(15), (a, b, c, d) => {
      const p = fisherExact(a, b, c, d);
      assert.ok(Math.abs(p - fisherByDefinition(a, b, c, d)) < 1e-9);
      assert.ok(Math.abs(p - fisherExact(a, c, b, d)) < 1e-9, "the transposed table");
    }),
  );
});

/** Krippendorff's alpha (nominal) from its pairs definition: disagreeing pairs within items vs over all values. */
function alphaByPairs(items: string[][]): number | null {
  const units = items.filter((u) => u.length >= 2);
  const values = units.flat();
  const n = values.length;
  if (n === 0) return null;
  let observed = 0;
  for (const u of units) {
    let disagreeing = 0;
    for (let i = 0; i < u.length; i++) for (let j = 0; j < u.length; j++) if (i !== j && u[i] !== u[j]) disagreeing++;
    observed += disagreeing / (u.length - 1);
  }
  let expected = 0;
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (i !== j && values[i] !== values[j]) expected++;
  if (expected === 0) return null;
  return 1 - (n - 1) * observed / expected;
}

Deno.test("krippendorffAlpha: a hand-computed table, and its pairs definition on any table", () => {
  // Items {a,a,b} {c,c,c} {b,a,b}: n = 9, coincidences a-b off the diagonal 2 + 2, expected
  // pairs 81 - 27 = 54: alpha = 1 - 8 * 4 / 54 = 11/27.
  assert.ok(Math.abs(krippendorffAlpha([["a", "a", "b"], ["c", "c", "c"], ["b", "a", "b"]])! - 11 / 27) < 1e-12);
  assert.equal(krippendorffAlpha([["a", "a"], ["b", "b"]]), 1);
  assert.equal(krippendorffAlpha([["a", "a"], ["a"]]), null, "one value only: nothing to expect");
  fc.assert(
    fc.property(fc.array(fc.array(fc.constantFrom("x", "y", "z"), { maxLength: 5 }), { maxLength: 8 }), (items) => {
      const a = krippendorffAlpha(items), b = alphaByPairs(items);
      assert.ok(a === b || (a !== null && b !== null && Math.abs(a - b) < 1e-9), `${a} vs ${b}`);
    }),
  );
});

Deno.test("stratifiedShare: weights, the finite-population variance, the effective size; a census is exact", () => {
  // Strata of 100 and 50; samples 2 of 4 and 0 of 2. Estimate (100/150) 1/2 + 0; variance
  // (2/3)^2 (1 - 4/100) (1/4) / 3 + (1/3)^2 (1 - 2/50) 0 = 0.96/27.
  const s = stratifiedShare([{ population: 100, sample: [1, 0, 1, 0] }, { population: 50, sample: [0, 0] }])!;
  assert.ok(Math.abs(s.estimate - 1 / 3) < 1e-12);
  assert.ok(Math.abs(s.variance - 0.96 / 27) < 1e-12);
  const nEff = (1 / 3) * (2 / 3) / (0.96 / 27);
  const [lo, hi] = wilsonClosedForm(nEff / 3, nEff);
  assert.ok(Math.abs(s.lo - lo) < 1e-12 && Math.abs(s.hi - hi) < 1e-12);
  const census = stratifiedShare([{ population: 3, sample: [1, 0, 1] }])!;
  assert.deepEqual([census.estimate, census.lo, census.hi], [2 / 3, 2 / 3, 2 / 3]);
  assert.equal(stratifiedShare([{ population: 5, sample: [] }]), null);
});

Deno.test("CSV: export then import into a fresh copy of the study gives the same figures; bad rows name their line", async () => {
  const { dir } = await sampleReportFolder();
  const server = await startReviewServer({ dir, port: 0, reviewers: ["ann", "bo", "cy"], perItem: 3, label: "both" });
  const plan = JSON.parse(await Deno.readTextFile(join(dir, "review-plan.json")));
  try {
    for (const [i, a] of plan.assignments.entries()) {
      const answer = a.labelShown && i % 5 === 0 ? "label is wrong" : i % 2 ? "acceptable" : "not acceptable";
      const response = await judge(server, Number(a.reviewer.slice(1)) - 1, a.item, answer);
      assert.equal(response.status, 200, await response.text());
    }
    // A changed answer: the later row counts, in both places.
    const first = plan.assignments[0];
    await (await judge(server, Number(first.reviewer.slice(1)) - 1, first.item, "acceptable")).body?.cancel();
  } finally {
    await server.shutdown();
  }
  const csvPath = join(dir, "judgments.csv");
  const exported = await runCli("review", ["--report", dir, "--export", csvPath]);
  assert.equal(exported.code, 0, exported.stderr);
  const csv = await Deno.readTextFile(csvPath);
  assert.equal(csv.split("\r\n")[0], "item,reviewer,arm,answer,time");
  assert.equal(csv.trimEnd().split("\r\n").length, plan.assignments.length + 2);

  // A fresh copy of the study (the same report and plan), as a crowd platform's results would come back.
  const { dir: fresh } = await sampleReportFolder();
  await Deno.copyFile(join(dir, "review-plan.json"), join(fresh, "review-plan.json"));
  await Deno.copyFile(join(dir, "review-reviewers.json"), join(fresh, "review-reviewers.json"));
  const imported = await runCli("review", ["--report", fresh, "--import", csvPath]);
  assert.equal(imported.code, 0, imported.stderr);
  const review = (d: string) => Deno.readTextFile(join(d, "report.json")).then((t) => JSON.parse(t).review);
  assert.deepEqual(await review(fresh), await review(dir));

  const known = new Set<string>(plan.items.map((i: { id: string }) => i.id));
  const row = "mistake:8,w1,explanation shown; label shown,acceptable,2025-02-03T10:00:00Z";
  // Quoted fields, CRLF or LF, a byte-order mark: all read.
  const quoted = parseJudgmentsCsv(
    `\uFEFFitem,reviewer,arm,answer,time\n"mistake:8","w1","explanation shown; label shown","acceptable","2025-02-03T10:00:00+01:00"\n`,
    "x.csv",
    known,
  );
  assert.deepEqual(quoted.map((j) => [j.reviewer, j.at]), [["w1", "2025-02-03T09:00:00.000Z"]]);
  for (
    const [text, message] of [
      ["item,worker,arm,answer,time\n" + row, /x\.csv:1: the header must be/],
      [
        "item,reviewer,arm,answer,time\n" + row + "\nmistake:8,w1,explained,acceptable,2025-02-03T10:00:00Z",
        /x\.csv:3: arm: must be one of/,
      ],
      ["item,reviewer,arm,answer,time\n" + row.replace("acceptable", "ok"), /x\.csv:2: answer:/],
      [
        "item,reviewer,arm,answer,time\n" + row.replace("mistake:8", "mistake:99"),
        /x\.csv:2: mistake:99 is not an item/,
      ],
      ["item,reviewer,arm,answer,time\n" + row + ",extra", /x\.csv:2: 6 fields, not 5/],
      ['item,reviewer,arm,answer,time\n"mistake:8', /x\.csv:2: a quoted field is not closed/],
    ] as const
  ) {
    assert.throws(
      () => parseJudgmentsCsv(text, "x.csv", known),
      (e) => e instanceof InputError && message.test(e.message),
    );
  }
  // The module's figures from the rows parsed back match those from the rows written.
  const log = await readJudgments(dir, known);
  const back = parseJudgmentsCsv(judgmentsCsv(log.records), "x.csv", known);
  assert.deepEqual(back, log.records);
  const other = await Deno.makeTempDir();
  await appendJudgments(other, back);
  const report = JSON.parse(await Deno.readTextFile(join(dir, "report.json")));
  assert.deepEqual(reviewSummary(report, plan, await readJudgments(other, known)), report.review);
});
