import assert from "node:assert/strict";
import fc from "fast-check";
import { type AttackKernels, attackKernels, recordAttackStep } from "../kernels/attack_step.ts";
import type { Gpu } from "../kernels/gpu.ts";
import { attackStepOracle } from "./attack_oracle.ts";
import { gpuTest, testGpu } from "./gpu_fixture.ts";
import { maxAbsDiff, randomArray } from "./oracle.ts";

/** Runs a fast-check property over the compiled attack kernels as a GPU test. */
function kernelProperty<T>(
  name: string,
  numRuns: number,
  property: (gpu: Gpu, kernels: AttackKernels) => fc.IAsyncPropertyWithHooks<T>,
): void {
  Deno.test({
    name,
    ...gpuTest,
    async fn() {
      const gpu = await testGpu();
      await fc.assert(property(gpu, await attackKernels(gpu)), { numRuns });
    },
  });
}

kernelProperty(
  "attack step matches the float64 oracle: sign step, projection onto each image's ball, clip to the range",
  25,
  (gpu, kernels) =>
    fc.asyncProperty(
      fc.integer({ min: 1, max: 5 }),
      fc.oneof(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 41, max: 700 })),
      fc.constantFrom(1, -1, 0.25, -0.25),
      fc.boolean(),
      fc.constantFrom<[number, number]>([0, 1], [-1, 1], [0.2, 0.7]),
      fc.integer(),
      async (batch, per, scale, useSign, range, seed) => {
        const [lo, hi] = range;
        const eps = randomArray(batch, seed).map((v) => Math.abs(v) * 0.5);
        const origin = randomArray(batch * per, seed + 1).map((v) => lo + (v + 1) / 2 * (hi - lo));
        // Start anywhere near the original (inside or outside the ball), as PGD iterates do.
        const x = randomArray(batch * per, seed + 2).map((v, i) => origin[i] + 0.6 * v);
        // Some gradients exactly zero: sign(0) = 0 must leave those pixels unmoved.
        const grad = randomArray(batch * per, seed + 3).map((v, i) => (i % 7 === 0 ? 0 : v));
        using tx = gpu.tensor([batch, per], x);
        using to = gpu.tensor([batch, per], origin);
        using tg = gpu.tensor([batch, per], grad);
        using te = gpu.tensor([batch], eps);
        await gpu.run((s) =>
          recordAttackStep(s, kernels.step, { x: tx, origin: to, grad: tg, eps: te, scale, range, useSign })
        );
        const expected = attackStepOracle({ x, origin, grad, eps, scale, range, useSign });
        const err = maxAbsDiff(await gpu.read(tx), expected);
        assert.ok(err <= 1e-6, `attack step ${batch}x${per} scale ${scale} sign ${useSign}: error ${err}`);
      },
    ),
);

Deno.test({
  name: "attack step refuses an epsilon tensor that does not have one value per image",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    const kernels = await attackKernels(gpu);
    using x = gpu.tensor([2, 3]);
    using eps = gpu.tensor([3]);
    await assert.rejects(
      gpu.run((s) => recordAttackStep(s, kernels.step, { x, origin: x, grad: x, eps, scale: 1, range: [0, 1] })),
      /attack_step: eps has shape \[3\] but needs 2 values/,
    );
  },
});
