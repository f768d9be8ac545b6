/**
 * DeepFool: on a two-class linear model one step reaches the analytic minimal perturbation,
 * |margin| / ||w||_2 (L2) and |margin| / ||w||_1 (L-infinity), times the overshoot; on the small
 * ResNet every estimate is the norm of a point that the float64 model classifies otherwise.
 */
import assert from "node:assert/strict";
import { deepFool, DEEPFOOL_DEFAULTS } from "../pipeline/audit/deepfool.ts";
import { GpuBatch } from "../pipeline/audit/gpu_batch.ts";
import { contextFor, logitsOf, ownBatch } from "./attack_fixture.ts";
import { linearModel } from "./audit_fixture.ts";
import { gpuTest } from "./gpu_fixture.ts";
import { randomArray } from "./oracle.ts";
import { resnetFixture } from "./resnet_fixture.ts";

const LINEAR = linearModel(11, 2, 3, 2);
const RESNET = resnetFixture();

/** The two-class linear model's margin logit_label - logit_other and its pixel-space gradient, in float64. */
function margin(image: ArrayLike<number>, label: number) {
  const w = LINEAR.weights.get("fc.w")!, b = LINEAR.weights.get("fc.b")!;
  const features = w.shape[1], plane = features / 2;
  const { mean, std } = LINEAR.manifest.normalization;
  const a = Array.from(
    { length: features },
    (_, i) => (w.data[label * features + i] - w.data[(1 - label) * features + i]) / std[Math.floor(i / plane)],
  );
  const m = b.data[label] - b.data[1 - label] +
    a.reduce((s, ai, i) => s + ai * (image[i] - mean[Math.floor(i / plane)]), 0);
  return { m, a };
}

for (const norm of ["l2", "linf"] as const) {
  Deno.test({
    name:
      `on a linear model DeepFool (${norm}) reaches the analytic minimal perturbation in one step, times the overshoot`,
    ...gpuTest,
    async fn() {
      const c = await contextFor(LINEAR);
      const count = 16, per = 18;
      const host = ownBatch(LINEAR, count, 31, randomArray(count * per, 31).map((v) => 0.5 + 0.2 * v));
      using batch = GpuBatch.upload(c, host);
      const result = await deepFool(c, batch, { ...DEEPFOOL_DEFAULTS, norm });
      let checked = 0;
      for (let n = 0; n < count; n++) {
        const x = host.images.subarray(n * per, (n + 1) * per);
        const { m, a } = margin(x, host.labels[n]);
        const dual = norm === "l2" ? Math.hypot(...a) : a.reduce((s, v) => s + Math.abs(v), 0);
        const exact = m / dual;
        // The box binds when the scaled step leaves [0, 1]: the closed form no longer holds.
        const step = a.map((ai) => 1.03 * exact * (norm === "l2" ? ai / Math.hypot(...a) : Math.sign(ai)));
        if (step.some((s, i) => x[i] - s < 0 || x[i] - s > 1)) continue;
        checked++;
        assert.equal(result.steps[n], 1, `image ${n}: ${result.steps[n]} steps`);
        const e = result.estimates[n]!;
        assert.ok(e >= exact * (1 + 0.02) - 1e-5, `image ${n}: ${e} below 1.02 x the minimum ${exact}`);
        assert.ok(e <= (exact + 1e-4 / dual) * 1.02 + 1e-5, `image ${n}: ${e} vs 1.02 x the minimum ${exact}`);
      }
      assert.ok(checked >= 10, `only ${checked} images with a non-binding box`);
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
