import assert from "node:assert/strict";
import fc from "fast-check";
import { attackBatch } from "../pipeline/audit/attacks.ts";
import type { ImageBatch } from "../pipeline/audit/batches.ts";
import { predictBatch } from "../pipeline/audit/evaluate.ts";
import { type AuditContext, createAuditContext, GpuBatch } from "../pipeline/audit/gpu_batch.ts";
import { bisectFlipEpsilons, type Bracket } from "../pipeline/audit/min_epsilon.ts";
import { Executor } from "../pipeline/model/executor.ts";
import type { ModelFiles } from "../pipeline/model/model_files.ts";
import { linearModel } from "./audit_fixture.ts";
import { gpuTest, testGpu } from "./gpu_fixture.ts";
import { softmaxXentOracle } from "./ops_oracle.ts";
import { randomArray } from "./oracle.ts";
import { resnetFixture } from "./resnet_fixture.ts";

/** A batch of seeded random images inside `range`, with labels cycling through the classes. */
function hostBatch(model: ModelFiles, count: number, seed: number, range: readonly [number, number] = [0, 1]) {
  const shape = model.graph.input.shape;
  const per = shape[0] * shape[1] * shape[2];
  const [lo, hi] = range;
  const classes = model.manifest.classes.length;
  const batch: ImageBatch = {
    indices: Array.from({ length: count }, (_, i) => i),
    images: randomArray(count * per, seed).map((v) => lo + (v + 1) / 2 * (hi - lo)),
    labels: Int32Array.from({ length: count }, (_, i) => (i + seed) % classes),
    count,
    shape,
  };
  return batch;
}

const executors = new Map<ModelFiles, Promise<Executor>>();

/** An audit context for a model and input range; one executor per model for the whole file. */
async function contextFor(model: ModelFiles, range: [number, number] = [0, 1]): Promise<AuditContext> {
  let exec = executors.get(model);
  if (!exec) executors.set(model, exec = testGpu().then((gpu) => Executor.create(gpu, model)));
  return createAuditContext(await exec, range, 3);
}

const RESNET = resnetFixture();
const LINEAR = linearModel(11);

Deno.test({
  name: "FGSM and PGD images stay within epsilon (L-infinity) of the original and inside the valid range",
  ...gpuTest,
  async fn() {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("fgsm" as const, "pgd" as const),
        fc.boolean(),
        fc.constantFrom<[number, number]>([0, 1], [-1, 2]),
        fc.integer({ min: 1, max: 4 }),
        fc.integer(),
        async (kind, targeted, range, count, seed) => {
          const c = await contextFor(RESNET, range);
          const host = hostBatch(RESNET, count, seed, range);
          const width = range[1] - range[0];
          const eps = randomArray(count, seed + 9).map((v) => Math.abs(v) * 0.4 * width);
          const targets = targeted ? Array.from(host.labels, (l) => (l + 1) % 5) : undefined;
          using batch = GpuBatch.upload(c, host);
          const { images } = await attackBatch(c, batch, eps, { kind, steps: 3, targets, readImages: true });
          const per = images!.length / count;
          images!.forEach((v, i) => {
            const e = eps[Math.floor(i / per)];
            assert.ok(Math.abs(v - host.images[i]) <= e * (1 + 1e-6) + 1e-7, `pixel ${i} moved beyond ${e}`);
            assert.ok(v >= range[0] && v <= range[1], `pixel ${i} = ${v} left [${range}]`);
          });
        },
      ),
      { numRuns: 12 },
    );
  },
});

Deno.test({
  name: "an attack with epsilon 0 changes no image and no prediction (FGSM, and PGD with its random start)",
  ...gpuTest,
  async fn() {
    const c = await contextFor(RESNET);
    const host = hostBatch(RESNET, 6, 4);
    using batch = GpuBatch.upload(c, host);
    const clean = (await predictBatch(c, batch)).map((p) => p.top[0]);
    for (const kind of ["fgsm", "pgd"] as const) {
      const result = await attackBatch(c, batch, 0, { kind, steps: 2, readImages: true });
      assert.deepEqual(Array.from(result.predictions), clean, kind);
      assert.deepEqual(result.images, host.images, kind);
    }
  },
});

/** The linear model's logits and mean-cross-entropy input gradient for one image, in float64. */
function linearOracle(model: ModelFiles, image: ArrayLike<number>, label: number) {
  const w = model.weights.get("fc.w")!, b = model.weights.get("fc.b")!;
  const [classes, features] = w.shape;
  const plane = features / model.manifest.input.channels;
  const { mean, std } = model.manifest.normalization;
  const channel = (i: number) => Math.floor(i / plane);
  const z = Array.from({ length: features }, (_, i) => (image[i] - mean[channel(i)]) / std[channel(i)]);
  const logits = Array.from(
    { length: classes },
    (_, k) => b.data[k] + z.reduce((s, v, i) => s + w.data[k * features + i] * v, 0),
  );
  const { probs } = softmaxXentOracle(logits, 1, classes);
  const gradient = Array.from({ length: features }, (_, i) => {
    let g = 0;
    for (let k = 0; k < classes; k++) g += (probs[k] - (k === label ? 1 : 0)) * w.data[k * features + i];
    return g / std[channel(i)];
  });
  return { logits, gradient, probs };
}

Deno.test({
  name: "on a linear model FGSM is exactly the analytic sign step, untargeted (ascent) and targeted (descent)",
  ...gpuTest,
  async fn() {
    const c = await contextFor(LINEAR);
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 6 }), fc.boolean(), fc.integer(), async (count, targeted, seed) => {
        const host = hostBatch(LINEAR, count, seed);
        const eps = randomArray(count, seed + 5).map((v) => 0.02 + Math.abs(v) * 0.3);
        const targets = Array.from(host.labels, (l) => (l + 2) % 4);
        using batch = GpuBatch.upload(c, host);
        const { images } = await attackBatch(c, batch, eps, {
          kind: "fgsm",
          targets: targeted ? targets : undefined,
          readImages: true,
        });
        const per = images!.length / count;
        for (let n = 0; n < count; n++) {
          const image = host.images.subarray(n * per, (n + 1) * per);
          const label = targeted ? targets[n] : host.labels[n];
          const { gradient, probs } = linearOracle(LINEAR, image, label);
          // Where 1 - p(label) is below float32's resolution at 1, the GPU gradient loses its label term.
          if (1 - probs[label] < 1e-5) continue;
          const scale = Math.max(...gradient.map(Math.abs));
          const direction = targeted ? -1 : 1;
          gradient.forEach((g, i) => {
            if (Math.abs(g) < 1e-4 * scale) return; // the sign of a near-zero gradient is float32 noise
            const expected = Math.min(1, Math.max(0, image[i] + direction * eps[n] * Math.sign(g)));
            const got = images![n * per + i];
            assert.ok(Math.abs(got - expected) < 1e-6, `image ${n} pixel ${i}: ${got} vs ${expected} (gradient ${g})`);
          });
        }
      }),
      { numRuns: 15 },
    );
  },
});

Deno.test({
  name: "bisection finds each image's smallest FGSM flipping epsilon on a linear model, to the resolution",
  ...gpuTest,
  async fn() {
    const c = await contextFor(LINEAR);
    const count = 12;
    const host = hostBatch(LINEAR, count, 21);
    const per = host.images.length / count;
    // Use the model's own clean predictions as labels, so every image is correctly classified.
    const clean = Array.from(host.images.subarray(0, 0), () => 0);
    for (let n = 0; n < count; n++) {
      const { logits } = linearOracle(LINEAR, host.images.subarray(n * per, (n + 1) * per), 0);
      clean.push(logits.indexOf(Math.max(...logits)));
    }
    host.labels = Int32Array.from(clean);
    // The float64 FGSM prediction at epsilon, along the clean gradient's sign.
    const predictionAt = (n: number, epsilon: number) => {
      const image = host.images.subarray(n * per, (n + 1) * per);
      const { gradient } = linearOracle(LINEAR, image, clean[n]);
      const adversarial = Array.from(image, (v, i) => Math.min(1, Math.max(0, v + epsilon * Math.sign(gradient[i]))));
      const { logits } = linearOracle(LINEAR, adversarial, 0);
      return logits.indexOf(Math.max(...logits));
    };
    const resolution = 1 / 256;
    const brackets: (Bracket | null)[] = clean.map(() => ({ lo: 0, hi: 1 }));
    using batch = GpuBatch.upload(c, host);
    const found = await bisectFlipEpsilons(c, batch, clean, brackets, resolution, { kind: "fgsm" });
    let checked = 0;
    for (let n = 0; n < count; n++) {
      // Skip images the model is all but certain of: there 1 - p(label) is below float32's resolution
      // at 1, the GPU's softmax gradient loses its label term and its sign can differ from float64's.
      const { probs } = linearOracle(LINEAR, host.images.subarray(n * per, (n + 1) * per), clean[n]);
      if (1 - probs[clean[n]] < 1e-5) continue;
      // The first flip on a fine grid, where flipping is monotone along the grid (a linear model's usual case).
      const grid = Array.from({ length: 1025 }, (_, k) => predictionAt(n, k / 1024) !== clean[n]);
      const first = grid.indexOf(true);
      if (first < 0 || grid.slice(first).includes(false)) continue;
      checked++;
      const e = found[n]!;
      assert.ok(
        e !== null && e >= first / 1024 - 1 / 1024 - 1e-9,
        `image ${n}: ${e} below the first flip ${first / 1024}`,
      );
      assert.ok(e <= first / 1024 + resolution + 1e-9, `image ${n}: ${e} too far above the first flip ${first / 1024}`);
    }
    assert.ok(checked >= 4, `only ${checked} images flip monotonically within [0, 1]`);
  },
});

Deno.test({
  name: "attacks and bisection leave no GPU buffer behind",
  ...gpuTest,
  async fn() {
    const c = await contextFor(RESNET);
    const host = hostBatch(RESNET, 4, 8);
    using batch = GpuBatch.upload(c, host);
    const run = async () => {
      await attackBatch(c, batch, 0.1, { kind: "pgd", steps: 2, readImages: true });
      await attackBatch(c, batch, [0.1, 0.2, 0, 0.3], { kind: "fgsm", targets: [1, 2, 3, 4] });
      await bisectFlipEpsilons(c, batch, [0, 1, 2, 3], [null, { lo: 0, hi: 0.5 }, null, null], 0.1, { kind: "fgsm" });
    };
    await run(); // warm the pool
    const live = c.exec.gpu.pool.live;
    await run();
    assert.equal(c.exec.gpu.pool.live, live);
  },
});
