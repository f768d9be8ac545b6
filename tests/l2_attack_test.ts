/**
 * The L2 threat model: every attack's point stays in the L2 ball and the valid range, and on a
 * linear model (two classes, the box not binding) the flipping epsilon is the analytic minimal L2
 * distance to the decision boundary, |margin| / ||gradient of the margin||_2.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { attackBatch } from "../pipeline/audit/attacks.ts";
import { GpuBatch } from "../pipeline/audit/gpu_batch.ts";
import { bisectFlipEpsilons } from "../pipeline/audit/min_epsilon.ts";
import type { ModelFiles } from "../pipeline/model/model_files.ts";
import { contextFor, logitsOf, middleBatch, ownBatch } from "./attack_fixture.ts";
import { linearModel } from "./audit_fixture.ts";
import { gpuTest } from "./gpu_fixture.ts";
import { randomArray } from "./oracle.ts";
import { resnetFixture } from "./resnet_fixture.ts";

const RESNET = resnetFixture();
const LINEAR = linearModel(11, 2, 3, 2);

/** Image n's L2 distance from its clean image. */
function l2Distance(a: ArrayLike<number>, b: ArrayLike<number>, n: number, per: number): number {
  let s = 0;
  for (let j = n * per; j < (n + 1) * per; j++) s += (a[j] - b[j]) ** 2;
  return Math.sqrt(s);
}

/**
 * A two-class linear model's margin at an image, logit_label - logit_other, and its gradient in
 * pixel space, in float64 from the weights and the normalisation.
 */
function linearMargin(model: ModelFiles, image: ArrayLike<number>, label: number) {
  const w = model.weights.get("fc.w")!, b = model.weights.get("fc.b")!;
  const features = w.shape[1];
  const plane = features / model.manifest.input.channels;
  const { mean, std } = model.manifest.normalization;
  const other = 1 - label;
  const a = Array.from({ length: features }, (_, i) => {
    const c = Math.floor(i / plane);
    return (w.data[label * features + i] - w.data[other * features + i]) / std[c];
  });
  const margin = b.data[label] - b.data[other] +
    a.reduce((s, ai, i) => s + ai * (image[i] - mean[Math.floor(i / plane)]), 0);
  return { margin, a, norm: Math.sqrt(a.reduce((s, v) => s + v * v, 0)) };
}

Deno.test({
  name: "L2 attacks' points stay in the L2 ball and the valid range, and report the point's prediction",
  ...gpuTest,
  async fn() {
    const c = await contextFor(RESNET);
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("fgsm" as const, "pgd" as const, "apgd-ce" as const, "apgd-dlr" as const),
        fc.boolean(),
        fc.integer({ min: 1, max: 5 }),
        fc.integer(),
        async (kind, targeted, count, seed) => {
          const host = ownBatch(RESNET, count, seed);
          const eps = Array.from(randomArray(count, seed + 1), (v) => 0.05 + Math.abs(v) * 2);
          const targets = targeted ? Array.from(host.labels, (l) => (l + 2) % 5) : undefined;
          using batch = GpuBatch.upload(c, host);
          const options = { kind, norm: "l2" as const, steps: 5, apgdSteps: 6, targets, readImages: true };
          const result = await attackBatch(c, batch, eps, options);
          const images = result.images!;
          const per = images.length / count;
          const logits = logitsOf(RESNET, images, count);
          for (let n = 0; n < count; n++) {
            const d = l2Distance(images, host.images, n, per);
            assert.ok(d <= eps[n] * (1 + 1e-5) + 1e-6, `${kind} image ${n}: L2 distance ${d} > ${eps[n]}`);
            const row = Array.from(logits.subarray(n * 5, (n + 1) * 5));
            const gap = Math.max(...row) - row[result.predictions[n]];
            assert.ok(gap < 1e-4, `${kind} image ${n}: the reported prediction is not the point's top-1`);
          }
          assert.ok(images.every((v) => v >= 0 && v <= 1), `${kind}: a pixel left [0, 1]`);
        },
      ),
      { numRuns: 12 },
    );
  },
});

Deno.test({
  name: "on a linear model the L2 flipping epsilon is the analytic |margin| / ||w||_2: FGM at it, APGD-CE's bisection",
  ...gpuTest,
  async fn() {
    const c = await contextFor(LINEAR);
    const count = 16;
    const host = middleBatch(LINEAR, count, 21);
    const per = host.images.length / count;
    const exact = Array.from({ length: count }, (_, n) => {
      const x = host.images.subarray(n * per, (n + 1) * per);
      const { margin, a, norm } = linearMargin(LINEAR, x, host.labels[n]);
      const t = margin / norm;
      // The box binds if the step to the boundary leaves [0, 1]: then the minimum is not the closed form.
      const binds = a.some((ai, i) => x[i] - t * ai / norm < 0 || x[i] - t * ai / norm > 1);
      return binds ? null : t;
    });
    const usable = exact.flatMap((e, n) => (e !== null && e < 2.5 ? [n] : []));
    assert.ok(usable.length >= 10, `only ${usable.length} images have a non-binding boundary within 2.5`);
    using batch = GpuBatch.upload(c, host);
    // FGM steps along the margin's gradient: it flips just above the minimum and not just below.
    for (const [scale, flips] of [[1.002, true], [0.998, false]] as const) {
      const eps = exact.map((e) => (e ?? 0) * scale);
      const { predictions } = await attackBatch(c, batch, eps, { kind: "fgsm", norm: "l2" });
      for (const n of usable) {
        assert.equal(predictions[n] !== host.labels[n], flips, `FGM image ${n} at ${scale} x ${exact[n]}`);
      }
    }
    const resolution = 1 / 512;
    const brackets = Array.from({ length: count }, () => ({ lo: 0, hi: 3 }));
    const found = await bisectFlipEpsilons(c, batch, host.labels, brackets, resolution, {
      kind: "apgd-ce",
      norm: "l2",
      apgdSteps: 30,
    });
    for (const n of usable) {
      const e = found[n]!, t = exact[n]!;
      assert.ok(e >= t - 1e-4, `image ${n}: ${e} below the minimal L2 epsilon ${t}`);
      assert.ok(e <= t + resolution + 2e-3, `image ${n}: ${e} vs the minimal L2 epsilon ${t}`);
    }
  },
});
