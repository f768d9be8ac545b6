import assert from "node:assert/strict";
import fc from "fast-check";
import { bytesPerImage, Executor } from "../pipeline/model/executor.ts";
import { computeSaliency, SALIENCY_METHODS, type SaliencyOptions } from "../pipeline/explain/saliency.ts";
import {
  type Chw,
  linearModel,
  mlpIgnoring,
  quadrants,
  randomImages,
  trainedQuadrantsModel,
} from "./explain_fixture.ts";
import { gpuTest, testGpu } from "./gpu_fixture.ts";
import { assertClose, randomArray } from "./oracle.ts";

const chwArb = fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 }));

Deno.test({
  name: "saliency: the gradient of a linear model is its weights; SmoothGrad agrees, x input and IG scale by x - base",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    await fc.assert(
      fc.asyncProperty(
        chwArb,
        fc.integer({ min: 2, max: 5 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer(),
        async (input, classes, count, seed) => {
          const [c, h, w] = input as Chw;
          const plane = h * w, per = c * plane;
          const std = Array.from(randomArray(c, seed + 5), (v) => 0.5 + Math.abs(v));
          const model = linearModel(input as Chw, classes, seed, std);
          using exec = await Executor.create(gpu, model);
          const images = randomImages(count, input as Chw, seed + 9);
          const targets = Array.from({ length: count }, (_, i) => (((i + seed) % classes) + classes) % classes);
          const baseline = randomArray(per, seed + 3);
          const weights = model.weights.get("w")!.data;
          // d logit_t / d x[c, p] = W[t, c, p] / std[c]; maps are summed over channels ("sum").
          const expected = (factor: (b: number, i: number) => number) => {
            const out = new Float64Array(count * plane);
            for (let b = 0; b < count; b++) {
              for (let i = 0; i < per; i++) {
                const ch = Math.floor(i / plane);
                out[b * plane + (i % plane)] += weights[targets[b] * per + i] / std[ch] * factor(b, i);
              }
            }
            return out;
          };
          const run = (options: Omit<SaliencyOptions, "targets" | "reduce">) =>
            computeSaliency(exec, images, count, { ...options, targets, reduce: "sum" }).then((r) => r.maps);
          const plain = expected(() => 1);
          assertClose(await run({ method: "gradient" }), plain, c, "gradient");
          assertClose(await run({ method: "smoothGrad", samples: 3 }), plain, c, "SmoothGrad", 4);
          assertClose(
            await run({ method: "gradientInput" }),
            expected((b, i) => images[b * per + i]),
            c,
            "gradient x input",
          );
          const ig = await run({ method: "integratedGradients", steps: 5, baseline });
          assertClose(ig, expected((b, i) => images[b * per + i] - baseline[i]), c, "IG", 4);
        },
      ),
      { numRuns: 15 },
    );
  },
});

Deno.test({
  // Grad-CAM needs a spatial layer (an MLP has none); occlusion holds it with 1-pixel patches.
  name: "saliency: every pixel method gives exactly 0 on a region the model's output ignores, and not 0 elsewhere",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 3 }),
        fc.tuple(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 1, max: 4 })),
        fc.tuple(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 1, max: 4 })),
        fc.constantFrom(...SALIENCY_METHODS.filter((m) => m !== "gradcam" && m !== "gradcam++")),
        fc.integer(),
        async (channels, [top, tall], [left, wide], method, seed) => {
          const input: Chw = [channels, 8, 8];
          const inRegion = (y: number, x: number) => y >= top && y < top + tall && x >= left && x < left + wide;
          using exec = await Executor.create(gpu, mlpIgnoring(input, 3, 12, seed, (_c, y, x) => inRegion(y, x)));
          const count = 2;
          const { maps } = await computeSaliency(exec, randomImages(count, input, seed + 1), count, {
            method,
            samples: 4,
            steps: 8,
            seed,
            occlusion: { patch: 1 },
          });
          let outside = 0;
          for (let b = 0; b < count; b++) {
            for (let y = 0; y < 8; y++) {
              for (let x = 0; x < 8; x++) {
                const v = maps[(b * 8 + y) * 8 + x];
                if (inRegion(y, x)) {
                  assert.equal(v, 0, `${method}: image ${b} pixel (${y}, ${x}) in the ignored region`);
                } else outside += Math.abs(v); // occlusion's drops are signed
              }
            }
          }
          assert.ok(outside > 0, `${method}: the map is 0 everywhere`);
        },
      ),
      { numRuns: 20 },
    );
  },
});

Deno.test({
  name:
    "saliency: Integrated Gradients at 64 steps sum to f(x) - f(baseline) within 1% (trained convnet, kinks and all)",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    using exec = await Executor.create(gpu, await trainedQuadrantsModel(gpu));
    const data = quadrants(400, 8, 99);
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 392 }), fc.boolean(), async (first, black) => {
        const count = 8;
        const images = data.images.slice(first * 64, (first + count) * 64);
        const baseline = black ? "black" as const : randomImages(1, [1, 8, 8], first).map((v) => v * 0.2);
        const r = await computeSaliency(exec, images, count, {
          method: "integratedGradients",
          steps: 64,
          reduce: "sum",
          baseline,
        });
        for (let b = 0; b < count; b++) {
          const map = r.maps.subarray(b * 64, (b + 1) * 64);
          const total = map.reduce((a, v) => a + v, 0);
          const mass = map.reduce((a, v) => a + Math.abs(v), 0);
          const delta = r.scores[b] - r.baselineScores![b];
          // A ReLU network's gradient jumps along the path, so the 64-point sum is off by up to
          // (jumps x step / 2). 1% of the attributions' scale: |f(x) - f(b)|, or their total mass
          // where positive and negative attributions cancel in f(x) - f(b).
          const scale = Math.max(Math.abs(delta), mass);
          assert.ok(Math.abs(total - delta) <= 0.01 * scale, `image ${first + b}: sum ${total}, f(x) - f(b) ${delta}`);
        }
      }),
      { numRuns: 8 },
    );
  },
});

Deno.test({
  name: "saliency: a small memory budget splits SmoothGrad and IG into chunks without changing the maps",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    const input: Chw = [2, 6, 5];
    using exec = await Executor.create(gpu, mlpIgnoring(input, 4, 16, 3, () => false));
    const count = 5;
    const images = randomImages(count, input, 4);
    for (const method of ["smoothGrad", "integratedGradients"] as const) {
      const options = { method, samples: 7, steps: 7, seed: 5 };
      const whole = await computeSaliency(exec, images, count, options);
      const small = await computeSaliency(exec, images, count, {
        ...options,
        memoryBudget: 3 * bytesPerImage(exec, "input-gradient"),
      });
      assert.equal(whole.imagesPerPass, count * 7);
      assert.ok(small.imagesPerPass <= 3, `${small.imagesPerPass} images in one pass over a budget of 3`);
      assertClose(small.maps, whole.maps, 7, `${method} chunked`);
      assert.deepEqual(small.targets, whole.targets);
    }
  },
});
