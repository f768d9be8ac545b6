/**
 * The faithfulness metrics against closed forms: on a linear logit with a zero baseline, deletion
 * in the oracle order (attributions w * x, largest first) is the steepest curve any order gives
 * and insertion the highest (fast-check permutations, and the sorted closed form); the trapezoid
 * area against hand-computed values; on the GPU executor, the oracle-ordered faithfulness
 * correlation of gradient x input on a positive linear model is 1 and max-sensitivity of the
 * gradient of a linear model is 0; max-sensitivity of a constant map is 0; the bootstrap interval
 * against scipy's; the ranking rule on hand-made figures.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { rankMethods } from "../pipeline/audit/faithfulness_stage.ts";
import { bootstrapMean, quantileSorted } from "../pipeline/explain/interval.ts";
import { measureFaithfulness } from "../pipeline/explain/faithfulness.ts";
import {
  curveFractions,
  importanceOrder,
  maxSensitivity,
  perturbInBall,
  type Scorer,
  stepCounts,
  substitutionCurves,
  trapezoidArea,
} from "../pipeline/explain/perturbation.ts";
import { Executor } from "../pipeline/model/executor.ts";
import { type Chw, linearModel, randomImages } from "./explain_fixture.ts";
import { gpuTest, testGpu } from "./gpu_fixture.ts";
import { runPython } from "./python_reference.ts";

/** A linear logit sum(w * x) + b over one image of `per` values (float64), as a Scorer. */
function linearScorer(w: Float64Array, b: number): Scorer {
  return (images, count) =>
    Promise.resolve(Float32Array.from({ length: count }, (_, i) => {
      let s = b;
      for (let k = 0; k < w.length; k++) s += w[k] * images[i * w.length + k];
      return s;
    }));
}

/** Per pixel: sum over channels of w * x, what deleting that pixel takes from the logit. */
function pixelAttributions(w: Float64Array, x: Float32Array, channels: number): Float64Array {
  const plane = x.length / channels;
  const out = new Float64Array(plane);
  for (let c = 0; c < channels; c++) for (let p = 0; p < plane; p++) out[p] += w[c * plane + p] * x[c * plane + p];
  return out;
}

const problemArb = fc.record({
  channels: fc.integer({ min: 1, max: 3 }),
  height: fc.integer({ min: 1, max: 4 }),
  width: fc.integer({ min: 2, max: 4 }),
  steps: fc.integer({ min: 1, max: 8 }),
  seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
}).chain((p) =>
  fc.record({
    p: fc.constant(p),
    w: fc.array(fc.double({ min: -2, max: 2, noNaN: true }), {
      minLength: p.channels * p.height * p.width,
      maxLength: p.channels * p.height * p.width,
    }),
    x: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), {
      minLength: p.channels * p.height * p.width,
      maxLength: p.channels * p.height * p.width,
    }),
    other: fc.shuffledSubarray([...Array(p.height * p.width).keys()], {
      minLength: p.height * p.width,
      maxLength: p.height * p.width,
    }),
  })
);

/** One image's curve by substitution from `start` to `finish` in `order`. */
function curveOf(
  score: Scorer,
  start: Float32Array,
  finish: Float32Array,
  order: Int32Array,
  shape: Chw,
  steps: number,
): Promise<Float32Array> {
  return substitutionCurves(score, { starts: start, finishes: finish, orders: [order] }, {
    count: 1,
    shape,
    steps,
    targets: Int32Array.of(0),
    imagesPerCall: 3, // fewer than the K + 1 images: one image's curve still goes in one call
  });
}

Deno.test("faithfulness: deletion in the oracle order is the steepest, insertion the highest, of any order", async () => {
  await fc.assert(
    fc.asyncProperty(problemArb, async ({ p, w, x, other }) => {
      const shape: Chw = [p.channels, p.height, p.width];
      const plane = p.height * p.width;
      const weights = Float64Array.from(w), image = Float32Array.from(x);
      const score = linearScorer(weights, 0.25);
      const zero = new Float32Array(image.length);
      const attributions = pixelAttributions(weights, image, p.channels);
      const oracle = importanceOrder(attributions, new Float64Array(plane));
      const otherOrder = Int32Array.from(other);
      const deletion = await curveOf(score, image, zero, oracle, shape, p.steps);
      const otherDeletion = await curveOf(score, image, zero, otherOrder, shape, p.steps);
      const insertion = await curveOf(score, zero, image, oracle, shape, p.steps);
      const otherInsertion = await curveOf(score, zero, image, otherOrder, shape, p.steps);
      // Closed form: after n pixels, f(x) - (the n largest attributions) and f(0) + (the same).
      const sorted = [...attributions].sort((a, b) => b - a);
      const f = attributions.reduce((s, a) => s + a, 0.25);
      const counts = stepCounts(plane, p.steps);
      const tol = 1e-4;
      counts.forEach((n, k) => {
        const top = sorted.slice(0, n).reduce((s, a) => s + a, 0);
        assert.ok(Math.abs(deletion[k] - (f - top)) < tol, `deletion step ${k}: ${deletion[k]} vs ${f - top}`);
        assert.ok(Math.abs(insertion[k] - (0.25 + top)) < tol, `insertion step ${k}`);
        assert.ok(deletion[k] <= otherDeletion[k] + tol, `deletion step ${k}: another order went lower`);
        assert.ok(insertion[k] >= otherInsertion[k] - tol, `insertion step ${k}: another order went higher`);
      });
      const xs = curveFractions(plane, p.steps);
      assert.ok(trapezoidArea(xs, deletion) <= trapezoidArea(xs, otherDeletion) + tol);
      assert.ok(trapezoidArea(xs, insertion) >= trapezoidArea(xs, otherInsertion) - tol);
    }),
    { numRuns: 200 },
  );
});

Deno.test("faithfulness: the curves' steps and the trapezoid area against hand-computed values", () => {
  // Four points a third apart: (1 + 0.5) / 2 / 3 + (0.5 + 0.25) / 2 / 3 + (0.25 + 0) / 2 / 3 = 1.25 / 3.
  assert.ok(Math.abs(trapezoidArea(curveFractions(3, 3), [1, 0.5, 0.25, 0]) - 1.25 / 3) < 1e-12);
  // 5 pixels in 2 steps: round(2.5) = 3 after the first, fractions 0, 0.6, 1.
  assert.deepEqual([...stepCounts(5, 2)], [0, 3, 5]);
  // (1 + 0.4) / 2 * 0.6 + (0.4 + 0) / 2 * 0.4 = 0.42 + 0.08.
  assert.ok(Math.abs(trapezoidArea(curveFractions(5, 2), [1, 0.4, 0]) - 0.5) < 1e-12);
  // Ties follow the keys, then the index; larger map values first.
  assert.deepEqual([...importanceOrder([0, 2, 0, 2], [0.9, 0.5, 0.1, 0.2])], [3, 1, 2, 0]);
});

Deno.test("faithfulness: max-sensitivity of a constant map, and of a linear model's gradient, is 0", async () => {
  const shape: Chw = [2, 3, 3];
  const per = 18, count = 3;
  const images = randomImages(count, shape, 4);
  const perturbed = [1, 2, 3].map((j) => perturbInBall(images, 0.1, [0, 1], j));
  perturbed.forEach((y) => {
    assert.notDeepEqual(y, images);
    y.forEach((v, i) => assert.ok(v >= 0 && v <= 1 && Math.abs(v - images[i]) <= 0.1 + 1e-7));
  });
  const constant = () => Promise.resolve(new Float32Array(count * 9).fill(0.3));
  assert.deepEqual([...await maxSensitivity(constant, await constant(), perturbed, count)], [0, 0, 0]);
  // The gradient of sum(w * x) is w whatever x: the channels' max |w| per pixel.
  const w = randomImages(1, shape, 8);
  const gradient = () =>
    Promise.resolve(Float32Array.from({ length: count * 9 }, (_, k) => Math.max(w[k % 9], w[9 + (k % 9)])));
  assert.deepEqual([...await maxSensitivity(gradient, await gradient(), perturbed, count)], [0, 0, 0]);
  // A map that is the image itself moves by ||y - x|| / ||x||: above 0, at most 0.1 sqrt(18) / ||x||.
  const identity = (x: Float32Array) => Promise.resolve(x.filter((_, k) => k % per < 9));
  const moved = await maxSensitivity(identity, await identity(images), perturbed, count);
  moved.forEach((m, i) => {
    const norm = Math.hypot(...images.subarray(i * per, i * per + 9));
    assert.ok(m > 0 && m <= (0.1 * 3) / norm + 1e-6, `image ${i}: ${m}`);
  });
});

Deno.test({
  name:
    "faithfulness: on a positive linear model, gradient x input's correlation is 1 and the gradient's sensitivity 0",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    const shape: Chw = [1, 6, 6];
    const model = linearModel(shape, 3, 5, [1]);
    // Positive weights and inputs: |w x| = w x, so the drop of the logit over a set is the map's sum over it.
    const w = model.weights.get("w")!.data;
    w.forEach((v, i) => (w[i] = 0.1 + Math.abs(v)));
    using exec = await Executor.create(gpu, model);
    const count = 3;
    const images = randomImages(count, shape, 12);
    const result = await measureFaithfulness(exec, images, count, {
      methods: ["gradient", "gradientInput"],
      indices: [4, 9, 17],
      seed: 3,
      imagesPerPass: 5,
    });
    const [gradient, gradientInput] = result.methods;
    gradientInput.correlation.forEach((r) => assert.ok(Math.abs(r - 1) < 1e-4, `correlation ${r}`));
    gradient.sensitivity.forEach((s) => assert.ok(s < 1e-6, `sensitivity ${s}`));
    assert.ok(gradientInput.sensitivity.some((s) => s > 0));
    assert.equal(result.fractions.length, 17);
  },
});

Deno.test("faithfulness: the percentile-bootstrap interval agrees with scipy's, the quantile with numpy's", async () => {
  const samples = [
    [0.2, 0.4, 0.3, 0.5, 0.9, 0.1, 0.35, 0.6],
    Array.from(randomImages(1, [1, 4, 5], 3)),
  ];
  const script = `
import json, sys
import numpy as np
from scipy import stats
out = []
for values in json.loads(sys.argv[1]):
    r = stats.bootstrap((np.array(values),), np.mean, n_resamples=100000, method="percentile", random_state=0)
    out.append([float(r.confidence_interval.low), float(r.confidence_interval.high), float(np.std(values, ddof=1) / np.sqrt(len(values))),
                [float(np.percentile(values, q)) for q in (2.5, 37, 97.5)]])
print(json.dumps(out))`;
  const reference = JSON.parse(await runPython(script, [JSON.stringify(samples)]));
  samples.forEach((values, s) => {
    const [lo, hi, se, quantiles] = reference[s];
    const ours = bootstrapMean(values, { seed: 11, resamples: 100000 })!;
    // Monte Carlo error of a 2.5% quantile of 100,000 resampled means: far below 5% of the standard error.
    assert.ok(Math.abs(ours.lo - lo) < 0.05 * se, `sample ${s}: lo ${ours.lo} vs ${lo}`);
    assert.ok(Math.abs(ours.hi - hi) < 0.05 * se, `sample ${s}: hi ${ours.hi} vs ${hi}`);
    assert.ok(Math.abs(ours.mean - values.reduce((a, b) => a + b, 0) / values.length) < 1e-12);
    const sorted = [...values].sort((a, b) => a - b);
    [0.025, 0.37, 0.975].forEach((q, k) => assert.ok(Math.abs(quantileSorted(sorted, q) - quantiles[k]) < 1e-12));
  });
  assert.equal(bootstrapMean([], { seed: 1 }), null);
  assert.deepEqual(bootstrapMean([0.7], { seed: 1 }), { mean: 0.7, lo: 0.7, hi: 0.7, n: 1 });
});

Deno.test("faithfulness: methods rank per metric by the better direction, overall by the mean rank, ties by deletion", () => {
  const at = (mean: number | null) => (mean === null ? null : { mean, lo: mean, hi: mean, n: 1 });
  const row = (method: string, d: number | null, i: number, c: number, s: number) => ({
    method,
    deletion: at(d),
    insertion: at(i),
    correlation: at(c),
    sensitivity: at(s),
    deletionCurve: [],
    insertionCurve: [],
  });
  const metrics = ["deletion", "insertion", "correlation", "sensitivity"] as const;
  const ranked = rankMethods([
    row("a", 0.3, 0.9, 0.1, 0.5), // ranks 2, 1, 4, 4: mean 2.75, ties d's and wins on deletion
    row("b", 0.1, 0.5, 0.2, 0.4), // ranks 1, 3, 2, 2: mean 2
    row("c", 0.3, 0.8, 0.9, 0.1), // ranks 2, 2, 1, 1: mean 1.5
    row("d", null, 0.5, 0.2, 0.4), // no deletion: last there; ranks 4, 3, 2, 2: mean 2.75
  ], metrics);
  assert.deepEqual(ranked.map((m) => [m.method, m.rank]), [["c", 1], ["b", 2], ["a", 3], ["d", 4]]);
  assert.deepEqual(ranked.find((m) => m.method === "a")!.ranks, {
    deletion: 2,
    insertion: 1,
    correlation: 4,
    sensitivity: 4,
  });
  assert.deepEqual(ranked.find((m) => m.method === "d")!.ranks, {
    deletion: 4,
    insertion: 3,
    correlation: 2,
    sensitivity: 2,
  });
});
