import assert from "node:assert/strict";
import fc from "fast-check";
import { recordTopK, TOP_K_MAX, topKKernel } from "../kernels/top_k.ts";
import { randomArray } from "./oracle.ts";
import { topKOracle } from "./ops_oracle.ts";
import { gpuTest, testGpu } from "./gpu_fixture.ts";

Deno.test({
  name: "top-k values and indices match the oracle exactly, ties going to the lower index",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    const kernel = await topKKernel(gpu);
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 70 }),
        fc.oneof(fc.integer({ min: 1, max: 30 }), fc.integer({ min: 31, max: 1000 })),
        fc.integer({ min: 1, max: TOP_K_MAX }),
        fc.boolean(),
        fc.integer(),
        async (B, C, kWanted, ties, seed) => {
          const k = Math.min(kWanted, C);
          // With ties on, values come from {-1, -0.75, ..., 1}, so equal values are common.
          const x = randomArray(B * C, seed).map((v) => ties ? Math.round(v * 4) / 4 : v);
          using tx = gpu.tensor([B, C], x);
          using values = gpu.tensor([B, k]);
          using indices = gpu.tensor([B, k], undefined, "u32");
          await gpu.run((s) => recordTopK(s, kernel, { x: tx, k, values, indices }));
          const expected = topKOracle(x, B, C, k);
          assert.deepEqual(await gpu.readU32(indices), expected.indices, `indices ${B}x${C} k=${k}`);
          assert.deepEqual(await gpu.read(values), Float32Array.from(expected.values), `values ${B}x${C} k=${k}`);
        },
      ),
      { numRuns: 25 },
    );
  },
});

Deno.test({
  name: "top-k rejects k outside [1, min(C, 10)]",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    const kernel = await topKKernel(gpu);
    using x = gpu.tensor([2, 5]);
    using values = gpu.tensor([2, 6]);
    using indices = gpu.tensor([2, 6], undefined, "u32");
    await assert.rejects(gpu.run((s) => recordTopK(s, kernel, { x, k: 6, values, indices })), /k must be/);
  },
});
