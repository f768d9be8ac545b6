import assert from "node:assert/strict";
import fc from "fast-check";
import {
  poolKernels,
  poolOutputSize,
  type PoolWindow,
  recordAvgPool,
  recordAvgPoolBackward,
  recordGlobalAvgPool,
  recordGlobalAvgPoolBackward,
  recordMaxPool,
  recordMaxPoolBackward,
} from "../kernels/pool.ts";
import { assertClose, randomArray } from "./oracle.ts";
import {
  assertGradientMatches,
  avgPoolBackwardOracle,
  avgPoolOracle,
  dot,
  maxPoolBackwardOracle,
  maxPoolOracle,
  poolOutShape,
} from "./ops_oracle.ts";
import { gpuTest, testGpu } from "./gpu_fixture.ts";
import { sizeOf } from "../pipeline/io/size_of.ts";

/**
 * A window with each padding < the dilated kernel (top and bottom, left and right drawn apart),
 * dilated or not, floor or ceil mode, and an [N, C, H, W] shape it yields a non-empty output on.
 */
const caseArb = fc.record({
  kernelHeight: fc.integer({ min: 1, max: 4 }),
  kernelWidth: fc.integer({ min: 1, max: 4 }),
  strideH: fc.integer({ min: 1, max: 3 }),
  strideW: fc.integer({ min: 1, max: 3 }),
  pads: fc.tuple(...[0, 1, 2, 3].map(() => fc.integer({ min: 0, max: 3 }))),
  dilation: fc.oneof(fc.constant([1, 1]), fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }))),
  ceilMode: fc.boolean(),
  N: fc.integer({ min: 1, max: 3 }),
  C: fc.integer({ min: 1, max: 4 }),
  H: fc.integer({ min: 1, max: 11 }),
  W: fc.integer({ min: 1, max: 11 }),
}).map(({ N, C, H, W, pads, dilation, ...w }) => {
  const spanH = (w.kernelHeight - 1) * dilation[0] + 1, spanW = (w.kernelWidth - 1) * dilation[1] + 1;
  const [top, left, bottom, right] = pads.map((p, i) => Math.min(p, (i % 2 === 0 ? spanH : spanW) - 1));
  const window: PoolWindow = {
    ...w,
    padH: top,
    padW: left,
    padBottom: bottom,
    padRight: right,
    dilationH: dilation[0],
    dilationW: dilation[1],
  };
  // Smallest input: span - padding, so windows lying mostly in the padding occur.
  const shape = [N, C, Math.max(H, spanH - top - bottom), Math.max(W, spanW - left - right)];
  return { shape, window };
});

const describe = (shape: readonly number[], w: PoolWindow) =>
  `[${shape}] k${w.kernelHeight}x${w.kernelWidth} s${w.strideH}x${w.strideW} ` +
  `p${w.padH},${w.padW},${w.padBottom},${w.padRight} d${w.dilationH}x${w.dilationW} ceil=${w.ceilMode}`;

Deno.test({
  name: "max pool forward (values and argmax) and gathering backward match the float64 oracle",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    const kernels = await poolKernels(gpu);
    await fc.assert(
      fc.asyncProperty(caseArb, fc.boolean(), fc.integer(), async ({ shape, window }, ties, seed) => {
        const outShape = poolOutShape(shape, window);
        // With ties on, values come from {-1, -0.5, ..., 1}: the first maximum must win.
        const x = randomArray(sizeOf(shape), seed).map((v) => ties ? Math.round(v * 2) / 2 : v);
        const dy = randomArray(sizeOf(outShape), seed + 1);
        using tx = gpu.tensor(shape, x);
        using tdy = gpu.tensor(outShape, dy);
        using ty = gpu.tensor(outShape);
        using argmax = gpu.tensor(outShape, undefined, "u32");
        using tdx = gpu.tensor(shape);
        await gpu.run((s) => {
          recordMaxPool(s, kernels, { x: tx, y: ty, argmax, window });
          recordMaxPoolBackward(s, kernels, { dy: tdy, argmax, dx: tdx, window });
        });
        const what = describe(shape, window);
        const expected = maxPoolOracle(x, shape, window);
        assertClose(await gpu.read(ty), expected.y, 1, `max pool ${what}`);
        assert.deepEqual(await gpu.readU32(argmax), expected.argmax, `argmax ${what}`);
        const fanIn = window.kernelHeight * window.kernelWidth;
        const dx = maxPoolBackwardOracle(dy, expected.argmax, x.length);
        assertClose(await gpu.read(tdx), dx, fanIn, `max pool backward ${what}`);
      }),
      { numRuns: 25 },
    );
  },
});

Deno.test({
  name: "average pool forward and backward match the float64 oracle, with and without count_include_pad",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    const kernels = await poolKernels(gpu);
    await fc.assert(
      fc.asyncProperty(caseArb, fc.boolean(), fc.integer(), async ({ shape, window }, countIncludePad, seed) => {
        const outShape = poolOutShape(shape, window);
        const x = randomArray(sizeOf(shape), seed), dy = randomArray(sizeOf(outShape), seed + 1);
        using tx = gpu.tensor(shape, x);
        using tdy = gpu.tensor(outShape, dy);
        using ty = gpu.tensor(outShape);
        using tdx = gpu.tensor(shape);
        await gpu.run((s) => {
          recordAvgPool(s, kernels, { x: tx, y: ty, window, countIncludePad });
          recordAvgPoolBackward(s, kernels, { dy: tdy, dx: tdx, window, countIncludePad });
        });
        const what = `${describe(shape, window)} countIncludePad=${countIncludePad}`;
        const area = window.kernelHeight * window.kernelWidth;
        assertClose(await gpu.read(ty), avgPoolOracle(x, shape, window, countIncludePad), area, `avg pool ${what}`);
        const dx = avgPoolBackwardOracle(dy, shape, window, countIncludePad);
        assertClose(await gpu.read(tdx), dx, area, `avg pool backward ${what}`);
      }),
      { numRuns: 25 },
    );
  },
});

Deno.test({
  name: "global average pool [N, C, H, W] -> [N, C] and its backward match the float64 oracle",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    const kernels = await poolKernels(gpu);
    await fc.assert(
      fc.asyncProperty(
        fc.tuple(
          fc.integer({ min: 1, max: 3 }),
          fc.integer({ min: 1, max: 9 }),
          fc.integer({ min: 1, max: 15 }),
          fc.integer({ min: 1, max: 15 }),
        ),
        fc.integer(),
        async ([N, C, H, W], seed) => {
          const shape = [N, C, H, W];
          const x = randomArray(sizeOf(shape), seed), dy = randomArray(N * C, seed + 1);
          using tx = gpu.tensor(shape, x);
          using tdy = gpu.tensor([N, C], dy);
          using ty = gpu.tensor([N, C]);
          using tdx = gpu.tensor(shape);
          await gpu.run((s) => {
            recordGlobalAvgPool(s, kernels, { x: tx, y: ty });
            recordGlobalAvgPoolBackward(s, kernels, { dy: tdy, dx: tdx });
          });
          const window = { kernelHeight: H, kernelWidth: W, strideH: 1, strideW: 1, padH: 0, padW: 0 };
          assertClose(await gpu.read(ty), avgPoolOracle(x, shape, window), H * W, `global avg pool [${shape}]`);
          assertClose(await gpu.read(tdx), avgPoolBackwardOracle(dy, shape, window), 1, `backward [${shape}]`);
        },
      ),
      { numRuns: 15 },
    );
  },
});

Deno.test("poolOutputSize computes floor-mode sizes and throws clear errors", () => {
  const w = { kernelHeight: 3, kernelWidth: 2, strideH: 2, strideW: 1, padH: 1, padW: 0 };
  assert.deepEqual(poolOutputSize(7, 5, w), { outHeight: 4, outWidth: 4 });
  assert.throws(() => poolOutputSize(1, 1, { ...w, padH: 0 }), /output height would be empty/);
  assert.throws(() => poolOutputSize(7, 5, { ...w, padW: 2 }), /padding 2 must be smaller than the kernel width 2/);
  assert.throws(() => poolOutputSize(7, 5, { ...w, strideH: 0 }), /stride \(height\) must be an integer >= 1/);
  assert.throws(() => poolOutputSize(7, 2.5, w), /input width must be an integer/);
  // GoogLeNet's 3x3/2 max pools in ceil mode, by hand: 112 -> 56 (floor mode gives 55); a last
  // window that would start in the trailing padding is dropped: 5 + 1 + 1, k2 s2 -> 3, not 4.
  const googlenet = { kernelHeight: 3, kernelWidth: 3, strideH: 2, strideW: 2, padH: 0, padW: 0, ceilMode: true };
  assert.deepEqual(poolOutputSize(112, 57, googlenet), { outHeight: 56, outWidth: 28 });
  const lastInPadding = { kernelHeight: 2, kernelWidth: 2, strideH: 2, strideW: 2, padH: 1, padW: 1, ceilMode: true };
  assert.deepEqual(poolOutputSize(5, 4, lastInPadding), { outHeight: 3, outWidth: 3 });
  const asymmetric = { kernelHeight: 3, kernelWidth: 3, strideH: 1, strideW: 2, padH: 0, padW: 1, padBottom: 2 };
  assert.deepEqual(poolOutputSize(4, 4, { ...asymmetric, padRight: 0 }), { outHeight: 4, outWidth: 2 });
  assert.throws(() => poolOutputSize(4, 4, { ...asymmetric, padBottom: 3 }), /padding 3 must be smaller/);
});

Deno.test({
  name: "pool wrappers reject tensors whose shapes do not fit the window",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    const kernels = await poolKernels(gpu);
    const window = { kernelHeight: 2, kernelWidth: 2, strideH: 2, strideW: 2, padH: 0, padW: 0 };
    using x = gpu.tensor([1, 2, 4, 4]);
    using y = gpu.tensor([1, 2, 3, 3]);
    await assert.rejects(gpu.run((s) => recordAvgPool(s, kernels, { x, y, window })), /y has shape \[1,2,3,3\]/);
  },
});

Deno.test("max pool backward oracle matches finite differences (distinct inputs, away from ties)", () => {
  fc.assert(
    fc.property(caseArb, fc.integer(), ({ shape, window }, seed) => {
      const n = sizeOf(shape);
      // A permutation of 0, 0.01, 0.02, ...: inputs distinct and far apart relative to the step.
      const perm = Array.from(randomArray(n, seed), (v, i) => [v, i]).sort((a, b) => a[0] - b[0]);
      const x = new Float64Array(n);
      perm.forEach(([, i], rank) => x[i] = rank * 0.01);
      const cot = randomArray(sizeOf(poolOutShape(shape, window)), seed + 1);
      const loss = (p: Float64Array) => dot(maxPoolOracle(p, shape, window).y, cot);
      const grad = maxPoolBackwardOracle(cot, maxPoolOracle(x, shape, window).argmax, n);
      assertGradientMatches(loss, x, grad, `max pool ${describe(shape, window)}`, { seed });
    }),
    { numRuns: 40 },
  );
});

Deno.test("average pool backward oracle matches finite differences of its forward", () => {
  fc.assert(
    fc.property(caseArb, fc.boolean(), fc.integer(), ({ shape, window }, countIncludePad, seed) => {
      const x = randomArray(sizeOf(shape), seed);
      const cot = randomArray(sizeOf(poolOutShape(shape, window)), seed + 1);
      const loss = (p: Float64Array) => dot(avgPoolOracle(p, shape, window, countIncludePad), cot);
      const grad = avgPoolBackwardOracle(cot, shape, window, countIncludePad);
      assertGradientMatches(loss, x, grad, `avg pool ${describe(shape, window)}`, { seed });
    }),
    { numRuns: 40 },
  );
});
