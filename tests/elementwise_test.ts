import assert from "node:assert/strict";
import fc from "fast-check";
import {
  type ClipRange,
  elementwiseKernel,
  recordAccumulate,
  recordAdd,
  recordClip,
  recordClipBackward,
  RELU6_RANGE,
  RELU_RANGE,
} from "../kernels/elementwise.ts";
import { assertClose, randomArray } from "./oracle.ts";
import { addOracle, assertGradientMatches, clipBackwardOracle, clipOracle, dot } from "./ops_oracle.ts";
import { gpuTest, testGpu } from "./gpu_fixture.ts";

/** ReLU, ReLU6 or a random range with float32-exact bounds. */
const rangeArb: fc.Arbitrary<ClipRange> = fc.oneof(
  fc.constant(RELU_RANGE),
  fc.constant(RELU6_RANGE),
  fc.tuple(fc.integer({ min: -16, max: 8 }), fc.integer({ min: 1, max: 32 }))
    .map(([lo, width]) => ({ lo: lo / 8, hi: (lo + width) / 8 })),
);

Deno.test({
  name: "clip forward and backward match the float64 oracle for ReLU, ReLU6 and random ranges",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    const kernel = await elementwiseKernel(gpu);
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 3000 }), rangeArb, fc.integer(), async (n, range, seed) => {
        const x = randomArray(n, seed).map((v) => v * 8);
        const dy = randomArray(n, seed + 1);
        using tx = gpu.tensor([n], x);
        using tdy = gpu.tensor([n], dy);
        using ty = gpu.tensor([n]);
        using tdx = gpu.tensor([n]);
        await gpu.run((s) => {
          recordClip(s, kernel, { x: tx, y: ty, range });
          recordClipBackward(s, kernel, { x: tx, dy: tdy, dx: tdx, range });
        });
        assertClose(await gpu.read(ty), clipOracle(x, range.lo, range.hi), 1, `clip n=${n}`);
        assertClose(await gpu.read(tdx), clipBackwardOracle(x, dy, range.lo, range.hi), 1, `clip backward n=${n}`);
      }),
      { numRuns: 15 },
    );
  },
});

Deno.test({
  name: "add (out = a + scale * b) and in-place accumulate match the float64 oracle",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    const kernel = await elementwiseKernel(gpu);
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 3000 }),
        fc.integer({ min: -8, max: 8 }),
        fc.integer(),
        async (n, scale8, seed) => {
          const scale = scale8 / 4;
          const a = randomArray(n, seed), b = randomArray(n, seed + 1);
          using ta = gpu.tensor([n], a);
          using tb = gpu.tensor([n], b);
          using sum = gpu.tensor([n]);
          using acc = gpu.tensor([n], a);
          await gpu.run((s) => {
            recordAdd(s, kernel, { a: ta, b: tb, out: sum, scale });
            recordAccumulate(s, kernel, { acc, x: tb });
          });
          assertClose(await gpu.read(sum), addOracle(a, b, scale), 2, `add n=${n} scale=${scale}`);
          assertClose(await gpu.read(acc), addOracle(a, b), 2, `accumulate n=${n}`);
        },
      ),
      { numRuns: 10 },
    );
  },
});

Deno.test({
  name: "clip covers counts beyond 65535 workgroups (2-D workgroup grid)",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    const kernel = await elementwiseKernel(gpu);
    const n = 65535 * 256 + 300;
    const x = new Float32Array(n);
    for (let i = 0; i < n; i++) x[i] = (i % 7) - 3;
    using tx = gpu.tensor([n], x);
    using ty = gpu.tensor([n]);
    await gpu.run((s) => recordClip(s, kernel, { x: tx, y: ty, range: RELU_RANGE }));
    const y = await gpu.read(ty);
    const wrong = y.findIndex((v, i) => v !== Math.max(x[i], 0));
    if (wrong >= 0) throw new Error(`element ${wrong}: ${y[wrong]} instead of ${Math.max(x[wrong], 0)}`);
  },
});

Deno.test({
  name: "elementwise wrappers reject tensors of different sizes, naming the tensor",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    const kernel = await elementwiseKernel(gpu);
    using a = gpu.tensor([3]);
    using b = gpu.tensor([4]);
    using out = gpu.tensor([3]);
    await assert.rejects(gpu.run((s) => recordAdd(s, kernel, { a, b, out })), /b has shape \[4\]/);
  },
});

Deno.test("clip backward oracle matches finite differences of clip away from the kinks", () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 200 }), rangeArb, fc.integer(), (n, range, seed) => {
      const hi = Math.min(range.hi, 1e6);
      // Inputs in [-8, 8), nudged at least 0.01 away from lo and hi.
      const x = Float64Array.from(randomArray(n, seed), (v) => {
        let u = v * 8;
        for (const kink of [range.lo, hi]) if (Math.abs(u - kink) < 0.01) u = kink + 0.05;
        return u;
      });
      const cot = randomArray(n, seed + 1);
      const loss = (p: Float64Array) => dot(clipOracle(p, range.lo, range.hi), cot);
      assertGradientMatches(loss, x, clipBackwardOracle(x, cot, range.lo, range.hi), "clip", { seed });
    }),
    { numRuns: 50 },
  );
});
