/**
 * DeepFool: on a two-class linear model one step reaches the analytic minimal perturbation,
 * |margin| / ||w||_2 (L2) and |margin| / ||w||_1 (L-infinity), times the overshoot; on the small
 * ResNet every estimate is the norm of a point that the float64 model classifies otherwise.
 */
import assert from "node:assert/strict";
import { deepFool, DEEPFOOL_DEFAULTS } from "../pipeline/audit/deepfool.ts";
import { GpuBatch } from "../pipeline/audit/gpu_batch.ts";
import { contextFor, logitsOf, middleBatch, ownBatch, unboundMinima } from "./attack_fixture.ts";
import { linearModel } from "./audit_fixture.ts";
import { gpuTest } from "./gpu_fixture.ts";
import { resnetFixture } from "./resnet_fixture.ts";

const LINEAR = linearModel(11, 2, 3, 2);
const RESNET = resnetFixture();

for (const norm of ["l2", "linf"] as const) {
  Deno.test({
    name:
      `on a linear model DeepFool (${norm}) reaches the analytic minimal perturbation in one step, times the overshoot`,
    ...gpuTest,
    async fn() {
      const c = await contextFor(LINEAR);
      const count = 16;
      const host = middleBatch(LINEAR, count, 31);
      using batch = GpuBatch.upload(c, host);
      const result = await deepFool(c, batch, { ...DEEPFOOL_DEFAULTS, norm });
      const unbound = unboundMinima(LINEAR, host, norm, 1.03);
      for (const { n, exact, dual } of unbound) {
        assert.equal(result.steps[n], 1, `image ${n}: ${result.steps[n]} steps`);
        const e = result.estimates[n]!;
        assert.ok(e >= exact * (1 + 0.02) - 1e-5, `image ${n}: ${e} below 1.02 x the minimum ${exact}`);
        assert.ok(e <= (exact + 1e-4 / dual) * 1.02 + 1e-5, `image ${n}: ${e} vs 1.02 x the minimum ${exact}`);
      }
      assert.ok(unbound.length >= 10, `only ${unbound.length} images with a non-binding box`);
    },
  });
}

Deno.test({
  name: "DeepFool's estimates are the norms of points the float64 model misclassifies, inside the range",
  ...gpuTest,
  async fn() {
    const c = await contextFor(RESNET);
    const count = 6;
    const host = ownBatch(RESNET, count, 4);
    using batch = GpuBatch.upload(c, host);
    for (const norm of ["l2", "linf"] as const) {
      const result = await deepFool(c, batch, { ...DEEPFOOL_DEFAULTS, norm, candidates: 4 });
      const per = result.images.length / count;
      const logits = logitsOf(RESNET, result.images, count);
      assert.ok(result.estimates.some((e) => e !== null), `${norm}: nothing flipped`);
      result.estimates.forEach((e, n) => {
        if (e === null) return;
        const d = Array.from({ length: per }, (_, j) => result.images[n * per + j] - host.images[n * per + j]);
        const size = norm === "l2" ? Math.hypot(...d) : Math.max(...d.map(Math.abs));
        assert.ok(Math.abs(size - e) <= 1e-6 * (1 + e), `${norm} image ${n}: ${e} is not its point's norm ${size}`);
        const row = Array.from(logits.subarray(n * 5, (n + 1) * 5));
        const gap = row[host.labels[n]] - Math.max(...row.filter((_, k) => k !== host.labels[n]));
        assert.ok(gap < 1e-4, `${norm} image ${n}: the label still wins by ${gap}`);
      });
      assert.ok(result.images.every((v) => v >= 0 && v <= 1), `${norm}: a pixel left [0, 1]`);
    }
  },
});
