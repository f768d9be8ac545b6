/**
 * The reduce group's kernels against float64 oracles on random shapes: reductions along any axes
 * (sum, mean, max and their backwards), softmax and log-softmax along any axis, layer and
 * instance norm forward and backward, and matmul with broadcast batch dims; the oracles' analytic
 * gradients against central differences.
 */
import fc from "fast-check";
import type { Gpu } from "../kernels/gpu.ts";
import { reduceKernels } from "../kernels/reduce.ts";
import { recordReduce, recordReduceBackward } from "../kernels/reduce_axes.ts";
import { recordLayerNorm, recordLayerNormBackward } from "../kernels/reduce_layer_norm.ts";
import { recordBatchedMatmul } from "../kernels/reduce_matmul.ts";
import { recordSoftmax, recordSoftmaxBackward } from "../kernels/reduce_softmax.ts";
import { gpuTest, testGpu } from "./gpu_fixture.ts";
import { assertGradientMatches, dot } from "./ops_oracle.ts";
import { assertClose, randomArray } from "./oracle.ts";
import {
  batchedMatmulOracle,
  layerNormBackwardOracle,
  layerNormOracle,
  reduceBackwardOracle,
  reduceOracle,
  softmaxBackwardOracle,
  softmaxOracle,
} from "./reduce_oracle.ts";

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** A shape of rank 1 to 5 with small dims (1 included, where merging and broadcasting matter). */
const shapeArb = fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 5 });

/** A shape and a non-empty set of its axes. */
const axesCaseArb = shapeArb.chain((shape) =>
  fc.record({
    shape: fc.constant(shape),
    axes: fc.subarray(shape.map((_, i) => i), { minLength: 1 }),
    kind: fc.constantFrom("sum", "mean", "max"),
    seed: fc.integer(),
  })
);

let gpuPromise: Promise<{ gpu: Gpu; kernels: Awaited<ReturnType<typeof reduceKernels>> }> | undefined;
function setup() {
  return gpuPromise ??= testGpu().then(async (gpu) => ({ gpu, kernels: await reduceKernels(gpu) }));
}

Deno.test({
  name: "sum, mean and max along any axes, and their backwards, match the float64 oracle",
  ...gpuTest,
  async fn() {
    const { gpu, kernels } = await setup();
    await fc.assert(
      fc.asyncProperty(axesCaseArb, async ({ shape, axes, kind, seed }) => {
        const x = randomArray(size(shape), seed);
        const expected = reduceOracle(x, shape, axes, kind);
        const outShape = shape.map((d, i) => (axes.includes(i) ? 1 : d));
        const dyData = randomArray(size(outShape), seed + 1);
        using tx = gpu.tensor(shape, x);
        using y = gpu.tensor(outShape);
        using argmax = gpu.tensor(outShape, undefined, "u32");
        using dy = gpu.tensor(outShape, dyData);
        using dx = gpu.tensor(shape);
        const which = kind as "sum" | "mean" | "max";
        await gpu.run((s) => {
          recordReduce(s, kernels.axes, { x: tx, y, axes, kind: which, argmax });
          recordReduceBackward(s, kernels.axes, { dy, dx, axes, kind: which, argmax });
        });
        const what = `${kind} of [${shape}] along [${axes}]`;
        const count = size(shape) / size(outShape);
        assertClose(await gpu.read(y), expected.y, count, what);
        const dxExpected = reduceBackwardOracle(dyData, shape, axes, kind, expected.argmax);
        assertClose(await gpu.read(dx), dxExpected, 1, `${what} backward`);
      }),
      { numRuns: 40 },
    );
  },
});

Deno.test({
  name: "softmax and log-softmax along any axis, forward and backward, match the float64 oracle",
  ...gpuTest,
  async fn() {
    const { gpu, kernels } = await setup();
    const caseArb = shapeArb.chain((shape) =>
      fc.record({
        shape: fc.constant(shape),
        axis: fc.integer({ min: 0, max: shape.length - 1 }),
        log: fc.boolean(),
        scale: fc.constantFrom(1, 30),
        seed: fc.integer(),
      })
    );
    await fc.assert(
      fc.asyncProperty(caseArb, async ({ shape, axis, log, scale, seed }) => {
        // Offsets of 1000 check that the max is subtracted (exp would overflow otherwise).
        const x = randomArray(size(shape), seed).map((v) => v * scale + 1000);
        const dyData = randomArray(size(shape), seed + 1);
        using tx = gpu.tensor(shape, x);
        using y = gpu.tensor(shape);
        using dy = gpu.tensor(shape, dyData);
        using dx = gpu.tensor(shape);
        await gpu.run((s) => {
          recordSoftmax(s, kernels.softmax, { x: tx, y, axis, log });
          recordSoftmaxBackward(s, kernels.softmax, { y, dy, dx, axis, log });
        });
        const what = `${log ? "log-" : ""}softmax of [${shape}] along ${axis}`;
        const yExpected = softmaxOracle(x, shape, axis, log);
        // x near 1000 carries float32 rounding of ~6e-5, which the output inherits.
        assertClose(await gpu.read(y), yExpected, shape[axis], what, 20);
        assertClose(
          await gpu.read(dx),
          softmaxBackwardOracle(yExpected, dyData, shape, axis, log),
          shape[axis],
          `${what} backward`,
          20,
        );
      }),
      { numRuns: 30 },
    );
  },
});

Deno.test("the softmax and log-softmax backward oracles match central differences in float64", () => {
  fc.assert(
    fc.property(shapeArb, fc.nat(), fc.boolean(), fc.integer(), (shape, a, log, seed) => {
      const axis = a % shape.length;
      const x = Float64Array.from(randomArray(size(shape), seed), (v) => v * 3);
      const dy = Float64Array.from(randomArray(size(shape), seed + 1));
      const grad = softmaxBackwardOracle(softmaxOracle(x, shape, axis, log), dy, shape, axis, log);
      assertGradientMatches((p) => dot(softmaxOracle(p, shape, axis, log), dy), x, grad, `softmax [${shape}]`);
    }),
    { numRuns: 30 },
  );
});

/** Rows x D with scale/bias per position, or images x channels x spatial with them per channel. */
const normCaseArb = fc.record({
  rows: fc.integer({ min: 1, max: 6 }),
  D: fc.oneof(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 13, max: 300 })),
  channels: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }),
  bias: fc.boolean(),
  offset: fc.constantFrom(0, 100),
  seed: fc.integer(),
}).map((c) => ({ ...c, rows: c.channels ? c.rows * c.channels : c.rows, affine: c.channels ?? c.D }));

Deno.test({
  name: "layer norm and instance norm forward, input and parameter gradients match the float64 oracle",
  ...gpuTest,
  async fn() {
    const { gpu, kernels } = await setup();
    await fc.assert(
      fc.asyncProperty(normCaseArb, async ({ rows, D, channels, bias, offset, seed, affine }) => {
        // An offset of 100 over deviations of 1 is where a one-pass variance would cancel. Values
        // alternate +-1.5 around it so no row of two or more is nearly constant: there 1/std is
        // huge and float32 inputs alone carry errors it amplifies (an ill-conditioned row, for
        // any float32 implementation).
        const x = randomArray(rows * D, seed).map((v, i) => v + offset + (i % 2 ? 1.5 : -1.5));
        const scaleData = randomArray(affine, seed + 1).map((v) => v + 1.5);
        const biasData = randomArray(affine, seed + 2);
        const dyData = randomArray(rows * D, seed + 3);
        const eps = 1e-5;
        using tx = gpu.tensor([rows, D], x);
        using y = gpu.tensor([rows, D]);
        using stats = gpu.tensor([rows, 2]);
        using scale = gpu.tensor([affine], scaleData);
        using tbias = gpu.tensor([affine], biasData);
        using dy = gpu.tensor([rows, D], dyData);
        using dx = gpu.tensor([rows, D]);
        using dscale = gpu.tensor([affine]);
        using dbias = gpu.tensor([affine]);
        await gpu.run((s) => {
          recordLayerNorm(s, kernels.layerNorm, {
            x: tx,
            y,
            stats,
            scale,
            bias: bias ? tbias : undefined,
            D,
            channels,
            epsilon: eps,
          });
          recordLayerNormBackward(s, kernels.layerNorm, { x: tx, dy, stats, scale, dx, dscale, dbias, D, channels });
        });
        const what = `${channels ? "instance" : "layer"} norm ${rows}x${D}`;
        const yExpected = layerNormOracle(x, D, scaleData, bias ? biasData : undefined, eps, channels);
        assertClose(await gpu.read(y), yExpected, D, what, 10);
        const grads = layerNormBackwardOracle(x, dyData, D, scaleData, eps, channels);
        assertClose(await gpu.read(dx), grads.dx, D, `${what} dx`, 10);
        const perParam = (rows * D) / affine;
        assertClose(await gpu.read(dscale), grads.dscale, perParam, `${what} dscale`, 10);
        assertClose(await gpu.read(dbias), grads.dbias, perParam, `${what} dbias`);
      }),
      { numRuns: 30 },
    );
  },
});

Deno.test("the layer norm backward oracle matches central differences in float64", () => {
  fc.assert(
    fc.property(normCaseArb, ({ rows, D, channels, seed, affine }) => {
      const x = Float64Array.from(randomArray(rows * D, seed));
      const scale = Float64Array.from(randomArray(affine, seed + 1), (v) => v + 1.5);
      const bias = Float64Array.from(randomArray(affine, seed + 2));
      const dy = Float64Array.from(randomArray(rows * D, seed + 3));
      const eps = 1e-3;
      const grads = layerNormBackwardOracle(x, dy, D, scale, eps, channels);
      const what = `layer norm ${rows}x${D}`;
      assertGradientMatches((p) => dot(layerNormOracle(p, D, scale, bias, eps, channels), dy), x, grads.dx, what, {
        tol: 1e-5,
      });
      assertGradientMatches((p) => dot(layerNormOracle(x, D, p, bias, eps, channels), dy), scale, grads.dscale, what);
      assertGradientMatches((p) => dot(layerNormOracle(x, D, scale, p, eps, channels), dy), bias, grads.dbias, what);
    }),
    { numRuns: 20 },
  );
});

Deno.test({
  name: "matmul between activations with broadcast batch dims and transposed operands matches the float64 oracle",
  ...gpuTest,
  async fn() {
    const { gpu, kernels } = await setup();
    const batchArb = fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 3 });
    // Each operand's batch dims: a suffix of the output's, each dim kept or set to 1 (broadcast).
    const caseArb = fc.record({
      batch: batchArb,
      dropA: fc.nat({ max: 3 }),
      dropB: fc.nat({ max: 3 }),
      onesA: fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
      onesB: fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
      M: fc.oneof(fc.integer({ min: 1, max: 7 }), fc.integer({ min: 8, max: 40 })),
      N: fc.integer({ min: 1, max: 20 }),
      K: fc.integer({ min: 1, max: 30 }),
      transA: fc.boolean(),
      transB: fc.boolean(),
      seed: fc.integer(),
    });
    await fc.assert(
      fc.asyncProperty(caseArb, async (c) => {
        const own = (drop: number, ones: boolean[]) =>
          c.batch.slice(Math.min(drop, c.batch.length)).map((d, i) => (ones[i] ? 1 : d));
        const aShape = [...own(c.dropA, c.onesA), ...(c.transA ? [c.K, c.M] : [c.M, c.K])];
        const bShape = [...own(c.dropB, c.onesB), ...(c.transB ? [c.N, c.K] : [c.K, c.N])];
        const a = randomArray(size(aShape), c.seed);
        const b = randomArray(size(bShape), c.seed + 1);
        const expected = batchedMatmulOracle(a, aShape, b, bShape, c.transA, c.transB);
        using ta = gpu.tensor(aShape, a);
        using tb = gpu.tensor(bShape, b);
        using tc = gpu.tensor(expected.shape);
        await gpu.run((s) =>
          recordBatchedMatmul(s, kernels.matmul, { a: ta, b: tb, c: tc, transA: c.transA, transB: c.transB })
        );
        assertClose(
          await gpu.read(tc),
          expected.c,
          c.K,
          `[${aShape}]${c.transA ? "^T" : ""} x [${bShape}]${c.transB ? "^T" : ""}`,
        );
      }),
      { numRuns: 30 },
    );
  },
});
