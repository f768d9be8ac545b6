/**
 * FAB-T: the box-constrained L-infinity projection against a float64 bisection over the radius;
 * on a two-class linear model the attack reaches the analytic minimal perturbation |margin| /
 * ||w||_1; every returned point lies in the ball and the range and is misclassified by the float64
 * model or reported failed; and AutoAttack's ensemble with FAB-T flips every image the ensemble
 * without it flips.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { FAB_DEFAULTS, type FabMemo, fabTargeted, projectionLinf } from "../pipeline/audit/fab.ts";
import { GpuBatch } from "../pipeline/audit/gpu_batch.ts";
import { mulberry32 } from "../pipeline/io/prng.ts";
import { robustnessBatch, type RobustnessSettings } from "../pipeline/audit/robustness.ts";
import { contextFor, logitsOf, middleBatch, ownBatch, unboundMinima } from "./attack_fixture.ts";
import { linearModel } from "./audit_fixture.ts";
import { gpuTest } from "./gpu_fixture.ts";
import { resnetFixture } from "./resnet_fixture.ts";

const LINEAR = linearModel(11, 2, 3, 2);
const RESNET = resnetFixture();

/**
 * The oracle: the least radius r at which the box [0, 1] intersected with the L-infinity ball of
 * radius r around t reaches the hyperplane w.z = b (w.z over that box spans an interval, computed
 * per coordinate), by bisection; null when even the whole box does not reach it.
 */
function minimalRadius(t: number[], w: number[], b: number): number | null {
  const reaches = (r: number) => {
    let lo = 0, hi = 0;
    t.forEach((tj, j) => {
      const [zl, zh] = [Math.max(0, tj - r), Math.min(1, tj + r)];
      lo += Math.min(w[j] * zl, w[j] * zh);
      hi += Math.max(w[j] * zl, w[j] * zh);
    });
    return lo <= b && b <= hi;
  };
  if (!reaches(1)) return null;
  let [lo, hi] = [0, 1];
  for (let k = 0; k < 80; k++) {
    const mid = (lo + hi) / 2;
    if (reaches(mid)) hi = mid;
    else lo = mid;
  }
  return hi;
}

Deno.test("projectionLinf is the minimal L-infinity step onto the hyperplane within the box (float64 bisection)", () => {
  let reachable = 0, unreachable = 0;
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 6 }),
      fc.integer(),
      fc.double({ min: -3, max: 3, noNaN: true }),
      fc.boolean(),
      (dims, seed, b, sparse) => {
        const random = mulberry32(seed >>> 0);
        const t = Array.from({ length: dims }, () => random());
        const w = Array.from({ length: dims }, () => (sparse && random() < 0.3 ? 0 : 2 * random() - 1));
        const d = projectionLinf(t, w, b, [0, 1]);
        const z = t.map((tj, j) => tj + d[j]);
        assert.ok(z.every((v) => v >= -1e-12 && v <= 1 + 1e-12), `left the box: ${z}`);
        w.forEach((wj, j) => wj === 0 && assert.equal(d[j], 0));
        const radius = minimalRadius(t, w, b);
        const size = Math.max(0, ...Array.from(d, Math.abs));
        const reached = z.reduce((s, v, j) => s + w[j] * v, 0);
        if (radius !== null) {
          reachable++;
          assert.ok(Math.abs(reached - b) <= 1e-9 * (1 + Math.abs(b)), `w.z = ${reached}, not ${b}`);
          assert.ok(Math.abs(size - radius) <= 1e-9, `radius ${size}, the minimum is ${radius}`);
        } else {
          unreachable++;
          // Out of reach: the corner of the box nearest the hyperplane.
          const corner = w.reduce((s, wj) => s + (b > reached ? Math.max(wj, 0) : Math.min(wj, 0)), 0);
          assert.ok(Math.abs(reached - corner) <= 1e-9, `w.z = ${reached}, the nearest corner's is ${corner}`);
        }
      },
    ),
    { numRuns: 400 },
  );
  assert.ok(reachable > 50 && unreachable > 10, `cases: ${reachable} reachable, ${unreachable} not`);
});

Deno.test({
  name: "on a linear two-class model FAB-T reaches the analytic minimal perturbation |margin| / ||w||_1",
  ...gpuTest,
  async fn() {
    const c = await contextFor(LINEAR);
    const count = 16;
    const host = middleBatch(LINEAR, count, 31);
    using batch = GpuBatch.upload(c, host);
    const result = await fabTargeted(c, batch, 1, { ...FAB_DEFAULTS, steps: 40 });
    const unbound = unboundMinima(LINEAR, host, "linf", 1);
    for (const { n, exact } of unbound) {
      assert.ok(result.success[n], `image ${n} not fooled`);
      const e = result.distances[n]!;
      assert.ok(e >= exact - 1e-5, `image ${n}: ${e} below the minimum ${exact}`);
      assert.ok(e <= exact * 1.01 + 1e-5, `image ${n}: ${e} vs the minimum ${exact}`);
    }
    assert.ok(unbound.length >= 10, `only ${unbound.length} images with a non-binding box`);
  },
});

Deno.test({
  name: "every FAB-T point is within the ball and the range, and misclassified (float64) or reported failed",
  ...gpuTest,
  async fn() {
    const c = await contextFor(RESNET);
    const count = 5, per = 3 * 9 * 9;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 1000 }),
        fc.constantFrom(0.01, 0.03, 0.1),
        fc.integer({ min: 1, max: 2 }),
        async (seed, epsilon, restarts) => {
          const host = ownBatch(RESNET, count, seed);
          using batch = GpuBatch.upload(c, host);
          const result = await fabTargeted(c, batch, epsilon, { ...FAB_DEFAULTS, steps: 8, targets: 2, restarts });
          const logits = logitsOf(RESNET, result.images, count);
          for (let n = 0; n < count; n++) {
            const point = result.images.subarray(n * per, (n + 1) * per);
            const x = host.images.subarray(n * per, (n + 1) * per);
            assert.ok(point.every((v) => v >= 0 && v <= 1), `image ${n} left [0, 1]`);
            const size = Math.max(...Array.from(point, (v, j) => Math.abs(v - x[j])));
            assert.ok(size <= epsilon + 1e-6, `image ${n}: ${size} beyond epsilon ${epsilon}`);
            if (!result.success[n]) {
              assert.equal(size, 0, `failed image ${n} is not its clean image`);
              continue;
            }
            const row = Array.from(logits.subarray(n * 5, (n + 1) * 5));
            const gap = row[host.labels[n]] - Math.max(...row.filter((_, k) => k !== host.labels[n]));
            assert.ok(gap < 1e-4, `image ${n}: reported fooled, the label still wins by ${gap}`);
          }
        },
      ),
      { numRuns: 3 },
    );
  },
});

Deno.test({
  name: "AutoAttack's ensemble with FAB-T flips, at every epsilon, every image the ensemble without it flips",
  ...gpuTest,
  async fn() {
    const c = await contextFor(RESNET);
    const count = 8;
    const host = ownBatch(RESNET, count, 12);
    using batch = GpuBatch.upload(c, host);
    const settings: RobustnessSettings = {
      epsilons: [0, 0.01, 0.03, 0.06],
      attack: "autoattack",
      pgd: { steps: 5, stepFraction: 0.25, randomStart: true },
      apgd: { steps: 5, restarts: 1 },
      square: { queries: 20 },
      fab: { steps: 10 },
      resolution: 0,
      depth: 1,
    };
    const clean = host.labels;
    const withFab = await robustnessBatch(c, batch, clean, settings);
    const without = await robustnessBatch(c, batch, clean, { ...settings, fab: null });
    assert.ok(withFab.sweeps["fab-t"] && !without.sweeps["fab-t"], "the FAB-T curve is kept only with FAB-T");
    let gained = 0;
    settings.epsilons.forEach((_, j) => {
      for (let n = 0; n < count; n++) {
        const flippedWith = withFab.sweeps.autoattack![j][n] !== clean[n];
        const flippedWithout = without.sweeps.autoattack![j][n] !== clean[n];
        assert.ok(flippedWith || !flippedWithout, `epsilon ${settings.epsilons[j]}, image ${n}: lost a flip`);
        if (flippedWith && !flippedWithout) gained++;
      }
    });
    console.log(`FAB-T added ${gained} flips over ${count} images and ${settings.epsilons.length} epsilons`);
  },
});

Deno.test({
  name: "FAB-T's random restarts are drawn per image: two halves of a batch give what the whole batch gives",
  ...gpuTest,
  async fn() {
    const c = await contextFor(RESNET);
    const host = ownBatch(RESNET, 6, 23);
    const settings = { ...FAB_DEFAULTS, steps: 1, targets: 2, restarts: 3 };
    const run = async (positions: number[], restarts = settings.restarts) => {
      using b = GpuBatch.upload(c, host, positions);
      return await fabTargeted(c, b, 0.05, { ...settings, restarts });
    };
    const whole = await run([0, 1, 2, 3, 4, 5]);
    // The case exercises the random starts: they change an outcome here.
    assert.notDeepEqual(whole.distances, (await run([0, 1, 2, 3, 4, 5], 1)).distances, "the restarts changed nothing");
    const [left, right] = [await run([0, 1, 2]), await run([3, 4, 5])];
    assert.deepEqual(whole.distances, [...left.distances, ...right.distances]);
    assert.deepEqual(whole.success, [...left.success, ...right.success]);
    assert.deepEqual(Array.from(whole.images), [...left.images, ...right.images]);
  },
});

Deno.test({
  name: "a memo shared by a sweep's epsilons changes no FAB-T outcome",
  ...gpuTest,
  async fn() {
    const c = await contextFor(RESNET);
    const host = ownBatch(RESNET, 6, 23);
    using batch = GpuBatch.upload(c, host);
    const settings = { ...FAB_DEFAULTS, steps: 1, targets: 3, restarts: 2 };
    const memo: FabMemo = new Map();
    for (const epsilon of [0.01, 0.05]) {
      const fresh = await fabTargeted(c, batch, epsilon, settings);
      const recalled = await fabTargeted(c, batch, epsilon, settings, memo);
      assert.deepEqual(recalled, fresh, `epsilon ${epsilon}`);
    }
    assert.ok(memo.size > 0, "nothing was kept");
  },
});
