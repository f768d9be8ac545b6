import assert from "node:assert/strict";
import fc from "fast-check";
import { type ImagePrediction, summarizePredictions } from "../pipeline/audit/evaluate.ts";
import { calibration, confusionMatrix } from "../pipeline/audit/metrics.ts";
import { flipBrackets } from "../pipeline/audit/min_epsilon.ts";
import type { Judgment } from "../pipeline/schema/review.ts";
import { classifyMistakes, rectifiedTop1 } from "../pipeline/audit/mistakes.ts";
import { RobustnessAccumulator } from "../pipeline/audit/robustness.ts";
import { trustWarnings } from "../pipeline/audit/trust_checks.ts";
import { FASHION_MNIST_CLASSES } from "../pipeline/data/mod.ts";
import { Hierarchy, loadHierarchy } from "../pipeline/model/hierarchy.ts";

const FASHION = FASHION_MNIST_CLASSES;
const fashion = () => loadHierarchy(new URL("../fixtures/hierarchies/fashion.json", import.meta.url).pathname, FASHION);
const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) < 1e-12, `${what}: ${a} vs ${b}`);

Deno.test("expected calibration error over 15 bins matches a hand computation", () => {
  // Bins: 0.95 -> 14 (twice, one right: |0.5 - 0.95|), 0.55 -> 8 (right: |1 - 0.55|), 0.3 -> 4 (wrong: |0 - 0.3|).
  const { ece, bins } = calibration([0.95, 0.95, 0.55, 0.3], [true, false, true, false]);
  close(ece, (2 / 4) * 0.45 + (1 / 4) * 0.45 + (1 / 4) * 0.3, "ECE");
  assert.equal(bins.length, 15);
  assert.deepEqual(bins.map((b) => b.count), [0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 2]);
  assert.equal(bins[14].accuracy, 0.5);
  assert.equal(bins[0].accuracy, null);
  // A confidence of exactly 1 falls in the last bin; a perfectly calibrated set has ECE 0.
  assert.equal(calibration([1, 1], [true, true]).ece, 0);
  assert.equal(calibration([1], [true]).bins[14].count, 1);
});

Deno.test("confusion matrix rows are labels and columns predictions", () => {
  assert.deepEqual(confusionMatrix([0, 1, 2, 2, 1], [0, 2, 2, 1, 1], 3), [[1, 0, 0], [0, 1, 1], [0, 1, 1]]);
});

Deno.test("evaluation summary: top-1, top-k, per-class accuracy and mean confidence by hand", () => {
  const predictions: ImagePrediction[] = [
    { index: 0, label: 0, top: [0, 1, 2], probs: [0.7, 0.2, 0.1] },
    { index: 1, label: 1, top: [2, 1, 0], probs: [0.6, 0.3, 0.1] },
    { index: 2, label: 2, top: [2, 0, 1], probs: [0.5, 0.4, 0.1] },
  ];
  const e = summarizePredictions(predictions, ["a", "b", "c"]);
  close(e.top1, 2 / 3, "top-1");
  assert.equal(e.top5, 1);
  close(e.meanConfidence, 0.6, "mean confidence");
  assert.deepEqual(e.perClass.map((c) => c.accuracy), [1, 0, 1]);
  assert.deepEqual(e.confusion, [[1, 0, 0], [0, 0, 1], [0, 0, 1]]);
});

/** Mistakes on the fashion classes, one of each kind. */
function fashionPredictions(): ImagePrediction[] {
  return [
    { index: 0, label: 0, top: [0, 2, 4, 6, 3], probs: [0.9, 0.05, 0.02, 0.02, 0.01] }, // right
    { index: 1, label: 2, top: [4, 2, 0, 6, 3], probs: [0.5, 0.45, 0.02, 0.02, 0.01] }, // Pullover -> Coat
    { index: 2, label: 3, top: [8, 0, 1, 2, 4], probs: [0.9, 0.05, 0.02, 0.02, 0.01] }, // Dress -> Bag
    { index: 3, label: 5, top: [7, 5, 9, 8, 0], probs: [0.6, 0.3, 0.05, 0.03, 0.02] }, // Sandal -> Sneaker
  ];
}

Deno.test("mistake taxonomy: label in top-5, same superclass, low margin, by hand on the fashion tree", async () => {
  const { items, counts } = classifyMistakes(fashionPredictions(), await fashion(), { depth: 1 });
  assert.deepEqual(items.map((m) => m.index), [1, 2, 3]);
  assert.deepEqual(items.map((m) => m.labelInTop5), [true, false, true]);
  assert.deepEqual(items.map((m) => m.sameSuperclass), [true, false, true]);
  assert.deepEqual(items.map((m) => m.lowMargin), [true, false, false]);
  assert.deepEqual(items.map((m) => m.distance), [2, 2, 2]);
  assert.deepEqual(counts, { total: 3, labelInTop5: 2, sameSuperclass: 2, lowMargin: 1, unexplained: 1 });
  const strict = classifyMistakes(fashionPredictions(), await fashion(), { depth: 1, lowMargin: 0.4 });
  assert.equal(strict.counts.lowMargin, 2);
});

Deno.test("rectified top-1 forgives same-superclass mistakes and follows human judgments", async () => {
  const h = await fashion();
  const p = fashionPredictions();
  assert.equal(rectifiedTop1(p, h, { depth: 1 }), 3 / 4);
  assert.equal(rectifiedTop1(p, h, { depth: 2 }), 1 / 4); // no two fashion classes share a depth-2 ancestor
  const judged = new Map<number, Judgment>([[3, "not acceptable"], [2, "label is wrong"]]);
  assert.equal(rectifiedTop1(p, h, { depth: 1, judgments: judged }), 2 / 3);
  assert.equal(rectifiedTop1(p, h, { depth: 1, judgments: new Map([[2, "acceptable"]]) }), 1);
  assert.equal(rectifiedTop1(p, Hierarchy.flat(FASHION), { depth: 1 }), 1 / 4);
});

Deno.test("rectified top-1 is never below top-1, whatever the predictions, hierarchy depth and judgments", async () => {
  const h = await fashion();
  const judgment = fc.constantFrom<Judgment>("acceptable", "not acceptable", "label is wrong");
  const prediction = fc.tuple(
    fc.integer({ min: 0, max: 9 }),
    fc.shuffledSubarray([...FASHION.keys()], { minLength: 5, maxLength: 5 }),
  );
  fc.assert(
    fc.property(
      fc.array(prediction, { minLength: 1, maxLength: 30 }),
      fc.integer({ min: 1, max: 2 }),
      fc.array(fc.tuple(fc.nat(29), judgment)),
      (rows, depth, judgments) => {
        const predictions = rows.map(([label, top], index) => ({
          index,
          label,
          top,
          probs: [0.5, 0.2, 0.1, 0.1, 0.1],
        }));
        const top1 = predictions.filter((p) => p.top[0] === p.label).length / predictions.length;
        const rectified = rectifiedTop1(predictions, h, { depth, judgments: new Map(judgments) });
        assert.ok(rectified >= top1 - 1e-12 && rectified <= 1, `rectified ${rectified} vs top-1 ${top1}`);
      },
    ),
  );
});

Deno.test("flip brackets come from the first swept epsilon that flipped a correctly classified image", () => {
  const clean = [0, 1, 2, 3], labels = [0, 1, 2, 0];
  const sweep = [clean, [0, 5, 2, 3], [0, 5, 4, 3], [0, 5, 4, 3]];
  assert.deepEqual(flipBrackets(clean, labels, sweep, [0, 0.1, 0.2, 0.3]), [
    null, // never flipped
    { lo: 0, hi: 0.1 },
    { lo: 0.1, hi: 0.2 },
    null, // misclassified
  ]);
});

Deno.test("robustness curve: accuracy, success rate and where flips land, by hand on the fashion tree", async () => {
  const settings = {
    epsilons: [0, 0.1],
    attack: "fgsm" as const,
    pgd: { steps: 10, stepFraction: 0.25, randomStart: true },
    resolution: 0,
    depth: 1,
  };
  const acc = new RobustnessAccumulator(settings, await fashion(), 1);
  const clean = [0, 2, 3, 7];
  acc.add({
    indices: [0, 1, 2, 3],
    labels: [0, 2, 3, 5],
    clean,
    zeroGradients: 1,
    // T-shirt -> Coat (same superclass, distance 2); Pullover holds; Dress -> Sandal (distance 3); image 3 was wrong.
    sweeps: { fgsm: [Uint32Array.from(clean), Uint32Array.from([4, 2, 5, 7])] },
    minEpsilons: [null, null, null, null],
  });
  const r = acc.finish();
  assert.equal(r.pgd, null);
  assert.deepEqual(r.curve, r.fgsm);
  const [zero, point] = r.curve;
  assert.equal(zero.accuracy, 3 / 4);
  assert.equal(zero.flips, 0);
  assert.equal(zero.sameSuperclassShare, null);
  assert.equal(point.accuracy, 1 / 4);
  assert.equal(point.flips, 2);
  assert.equal(point.successRate, 2 / 3);
  assert.equal(point.sameSuperclassShare, 1 / 2);
  assert.deepEqual(point.distanceHistogram, [0, 0, 1, 1, 0]);
  assert.equal(r.zeroGradientShare, 1 / 4);
  assert.equal(r.minEpsilon, null);
  assert.equal(r.warnings.length, 1, JSON.stringify(r.warnings)); // 25% zero gradients
  assert.match(r.warnings[0], /1 of 4 images .* all-zero input gradient/);
});

Deno.test("trust warnings: PGD weaker than FGSM, a large epsilon short of total success, zero gradients", () => {
  const point = (epsilon: number, accuracy: number, successRate: number) => ({ epsilon, accuracy, successRate });
  const base = { chosenName: "PGD", rangeWidth: 1, zeroGradients: 0, count: 500 };
  const fgsm = [point(0.1, 0.5, 0.5), point(0.3, 0.2, 0.8)];
  const quiet = trustWarnings({
    ...base,
    fgsm,
    pgd: [point(0.1, 0.505, 0.5), point(0.3, 0, 1)],
    chosen: [point(0.3, 0, 0.99)],
  });
  assert.deepEqual(quiet, []);
  const weak = trustWarnings({
    ...base,
    fgsm,
    pgd: [point(0.1, 0.52, 0.5), point(0.3, 0, 1)],
    chosen: [point(0.3, 0, 1)],
  });
  assert.equal(weak.length, 1);
  assert.match(weak[0], /PGD is weaker than FGSM at epsilon 0\.1 \(accuracy 52\.0% vs 50\.0%\)/);
  const short = trustWarnings({ ...base, fgsm, pgd: null, chosen: [point(0.3, 0.1, 0.9)] });
  assert.equal(short.length, 1);
  assert.match(short[0], /largest epsilon 0\.3 flips only 90\.0%/);
  // A small largest epsilon is not expected to flip everything.
  assert.deepEqual(trustWarnings({ ...base, fgsm, pgd: null, chosen: [point(0.1, 0.5, 0.5)] }), []);
  assert.deepEqual(trustWarnings({ ...base, fgsm, pgd: null, chosen: [], zeroGradients: 5 }), []); // 1%: not more than 1%
  assert.equal(trustWarnings({ ...base, fgsm, pgd: null, chosen: [], zeroGradients: 6 }).length, 1);
});
