/**
 * Kernels whose loop length comes from the data, at lengths past llvmpipe's 65,535 back edges per
 * shader run (kernels/loop_limit.ts): each result against a float64 oracle. Shapes are the
 * smallest that cross the limit.
 */
import assert from "node:assert/strict";
import { binaryKernels, recordBinaryBackward } from "../kernels/elementwise_binary.ts";
import { loopChunks } from "../kernels/loop_limit.ts";
import { poolKernels, recordGlobalAvgPool, recordMaxPool } from "../kernels/pool.ts";
import { movementKernel, recordStridedCopy } from "../kernels/movement.ts";
import { rbfGramKernels, recordRowNorms } from "../kernels/rbf_gram.ts";
import { recordReduce, reduceAxesKernels } from "../kernels/reduce_axes.ts";
import { layerNormKernels, recordLayerNorm, recordLayerNormBackward } from "../kernels/reduce_layer_norm.ts";
import { recordTopK, topKKernel } from "../kernels/top_k.ts";
import type { Gpu } from "../kernels/gpu.ts";
import { gpuTest, testGpu } from "./gpu_fixture.ts";
import { assertClose, randomArray } from "./oracle.ts";
import { layerNormBackwardOracle, layerNormOracle } from "./reduce_oracle.ts";

/** Past the limit with room to spare for a kernel's own fixed loops. */
const LONG = 70_001;

/** A GPU test on the shared device. */
function gpuCase(name: string, fn: (gpu: Gpu) => Promise<void>): void {
  Deno.test({ name, ...gpuTest, fn: async () => fn(await testGpu()) });
}

/** float64 sums of term(v) over each run of `width` values of x. */
function runTotals(x: Float32Array, width: number, term = (v: number) => v): number[] {
  return Array.from({ length: x.length / width }, (_, r) => {
    let sum = 0;
    for (let k = 0; k < width; k++) sum += term(x[r * width + k]);
    return sum;
  });
}

Deno.test("loopChunks: covers [0, total) in order, no piece longer than the chunk", () => {
  assert.deepEqual(loopChunks(0), [{ start: 0, end: 0 }]);
  assert.deepEqual(loopChunks(5, 2), [{ start: 0, end: 2 }, { start: 2, end: 4 }, { start: 4, end: 5 }]);
  assert.deepEqual(loopChunks(4, 2), [{ start: 0, end: 2 }, { start: 2, end: 4 }]);
  assert.throws(() => loopChunks(-1), /not a trip count/);
});

gpuCase(
  "row norms: rows wider than the loop limit (a --feature-node on a feature map) sum every value",
  async (gpu) => {
    const kernels = await rbfGramKernels(gpu);
    const rows = 3;
    const x = randomArray(rows * LONG, 11);
    using tx = gpu.tensor([rows, LONG], x);
    using norms = gpu.tensor([rows]);
    await gpu.run((s) => recordRowNorms(s, kernels, { x: tx, out: norms }));
    assertClose(await gpu.read(norms), runTotals(x, LONG, (v) => v * v), LONG, "squared row norms", 100);
  },
);

/** float32 [mean, 1/std] per row of x, computed in float64: the statistics the forward writes. */
function rowStats(x: Float32Array, D: number, eps: number): Float32Array {
  const stats = new Float32Array((x.length / D) * 2);
  for (let r = 0; r < x.length / D; r++) {
    let sum = 0;
    for (let d = 0; d < D; d++) sum += x[r * D + d];
    const mean = sum / D;
    let squares = 0;
    for (let d = 0; d < D; d++) squares += (x[r * D + d] - mean) ** 2;
    stats[2 * r] = mean;
    stats[2 * r + 1] = 1 / Math.sqrt(squares / D + eps);
  }
  return stats;
}

for (
  const [what, D, rows, channels] of [
    // Layer norm over channels at every pixel (ConvNeXt, Swin): a parameter sums over batch x pixels.
    ["layer norm, per position, rows past the limit", 2, LONG, undefined],
    // Instance norm: a parameter sums over the batch x the pixels of its channel.
    ["instance norm, per channel, batch x pixels past the limit", 36_000, 4, 2],
  ] as const
) {
  gpuCase(`${what}: d scale and d bias sum every term`, async (gpu) => {
    const kernels = await layerNormKernels(gpu);
    const eps = 1e-5;
    const x = randomArray(rows * D, 21);
    const dyData = randomArray(rows * D, 22);
    const affine = channels ?? D;
    const scaleData = randomArray(affine, 23);
    using tx = gpu.tensor([rows, D], x);
    using dy = gpu.tensor([rows, D], dyData);
    using stats = gpu.tensor([rows, 2], rowStats(x, D, eps));
    using scale = gpu.tensor([affine], scaleData);
    using dscale = gpu.tensor([affine]);
    using dbias = gpu.tensor([affine]);
    await gpu.run((s) => recordLayerNormBackward(s, kernels, { x: tx, dy, stats, scale, dscale, dbias, D, channels }));
    const grads = layerNormBackwardOracle(x, dyData, D, scaleData, eps, channels);
    const terms = (rows * D) / affine;
    assertClose(await gpu.read(dbias), grads.dbias, terms, `${what}: d bias`, 10);
    assertClose(await gpu.read(dscale), grads.dscale, terms, `${what}: d scale`, 10);
  });
}

gpuCase(
  "binary backward: a scalar operand's gradient over more terms than 64 invocations loop through sums them all",
  async (gpu) => {
    const kernels = await binaryKernels(gpu, ["mul"]);
    // A workgroup of 64 sums one gradient element: past 64 x 65,535 terms (a constant's gradient over a batch of GELUs).
    const count = 4_300_000;
    const a = randomArray(count, 31);
    const dyData = randomArray(count, 32);
    using ta = gpu.tensor([2, count / 2], a);
    using tb = gpu.tensor([1], [0.5]);
    using dy = gpu.tensor([2, count / 2], dyData);
    using grad = gpu.tensor([1]);
    await gpu.run((s) => recordBinaryBackward(s, kernels, { fn: "mul", side: "b", a: ta, b: tb, dy, grad }));
    let expected = 0;
    for (let i = 0; i < count; i++) expected += dyData[i] * a[i];
    assertClose(await gpu.read(grad), [expected], count, "d b of a * b", 10);
  },
);

gpuCase(
  "strided sum (an expand's backward): a broadcast over more points than the loop limit sums them all",
  async (gpu) => {
    const kernels = await movementKernel(gpu);
    // x.expand_as(y) of a squeeze-excitation scale [N, C, 1, 1] over a 280 x 250 feature map: its
    // backward sums each channel's 70,000 points; two channels, 70,000 points each.
    const [channels, points] = [2, 70_000];
    const dyData = randomArray(channels * points, 41);
    using dy = gpu.tensor([channels, points], dyData);
    using dx = gpu.tensor([channels]);
    await gpu.run((s) =>
      recordStridedCopy(s, kernels, {
        src: dy,
        dst: dx,
        dims: [channels],
        srcStrides: [points],
        dstStrides: [1],
        reduce: { dims: [points], strides: [1] },
      })
    );
    assertClose(await gpu.read(dx), runTotals(dyData, points), points, "sums over the broadcast axis", 10);
  },
);

gpuCase("reduce: a mean and a max over more values than the loop limit see them all", async (gpu) => {
  const kernels = await reduceAxesKernels(gpu);
  // ReduceMean over the spatial axes of a [1, 2, 280, 250] map (a squeeze-excitation mean).
  const shape = [1, 2, 280, 250];
  const plane = 280 * 250;
  const x = randomArray(2 * plane, 51);
  // The maximum of each plane sits in its last positions, which a cut-short loop never reaches.
  x[plane - 3] = 2;
  x[2 * plane - 1] = 3;
  using tx = gpu.tensor(shape, x);
  using mean = gpu.tensor([1, 2]);
  using max = gpu.tensor([1, 2]);
  using argmax = gpu.tensor([1, 2], undefined, "u32");
  await gpu.run((s) => {
    recordReduce(s, kernels, { x: tx, y: mean, axes: [2, 3], kind: "mean" });
    recordReduce(s, kernels, { x: tx, y: max, axes: [2, 3], kind: "max", argmax });
  });
  assertClose(await gpu.read(mean), runTotals(x, plane).map((sum) => sum / plane), 1, "means");
  assert.deepEqual([...await gpu.read(max)], [2, 3]);
  assert.deepEqual([...await gpu.readU32(argmax)], [plane - 3, 2 * plane - 1]);
});

gpuCase("top-k: rows of more classes than the scan may loop through give the k largest of all", async (gpu) => {
  const kernel = await topKKernel(gpu);
  // An ImageNet-21k head's 21,843 classes cost up to k + 2 back edges each: 3 rows of 70,001.
  const [rows, classes, k] = [3, LONG, 3];
  const x = randomArray(rows * classes, 61);
  for (let r = 0; r < rows; r++) x[r * classes + classes - 1 - r] = 5 + r; // a row's best near its end
  using tx = gpu.tensor([rows, classes], x);
  using values = gpu.tensor([rows, k]);
  using indices = gpu.tensor([rows, k], undefined, "u32");
  await gpu.run((s) => recordTopK(s, kernel, { x: tx, k, values, indices }));
  const expected = Array.from({ length: rows }, (_, r) =>
    Array.from({ length: classes }, (_, j) => j)
      .sort((a, b) => x[r * classes + b] - x[r * classes + a] || a - b)
      .slice(0, k));
  assert.deepEqual([...await gpu.readU32(indices)], expected.flat());
  assert.deepEqual([...await gpu.read(values)], expected.flatMap((cols, r) => cols.map((j) => x[r * classes + j])));
});

gpuCase(
  "pool forward: a window over more values than the loop limit (a global pool over 260 x 260) sees them all",
  async (gpu) => {
    const kernels = await poolKernels(gpu);
    const side = 260;
    const plane = side * side;
    const x = randomArray(2 * plane, 71);
    x[plane - 2] = 2; // each plane's maximum in its last row
    x[2 * plane - side] = 3;
    using tx = gpu.tensor([1, 2, side, side], x);
    using mean = gpu.tensor([1, 2]);
    using max = gpu.tensor([1, 2, 1, 1]);
    using argmax = gpu.tensor([1, 2, 1, 1], undefined, "u32");
    const window = { kernelHeight: side, kernelWidth: side, strideH: 1, strideW: 1, padH: 0, padW: 0 };
    await gpu.run((s) => {
      recordGlobalAvgPool(s, kernels, { x: tx, y: mean });
      recordMaxPool(s, kernels, { x: tx, y: max, argmax, window });
    });
    assertClose(await gpu.read(mean), runTotals(x, plane).map((sum) => sum / plane), 1, "global average pool");
    assert.deepEqual([...await gpu.read(max)], [2, 3]);
    assert.deepEqual([...await gpu.readU32(argmax)], [plane - 2, 2 * plane - side]);
  },
);

for (
  const [what, channels] of [
    // A group norm exported as instance norm: BiT's ResNet-50 normalises 8 channels x 56 x 56 together.
    ["instance norm", 2],
    ["layer norm", undefined],
  ] as const
) {
  gpuCase(
    `${what} over rows longer than the loop limit allows three passes of: forward and input gradient`,
    async (gpu) => {
      const kernels = await layerNormKernels(gpu);
      const [rows, D, eps] = [2, 40_000, 1e-5];
      const affine = channels ?? D;
      const [x, dyData] = [81, 82].map((seed) => randomArray(rows * D, seed));
      const [scaleData, biasData] = [83, 84].map((seed) => randomArray(affine, seed));
      using held = new DisposableStack();
      const tensor = (shape: number[], data?: Float32Array) => held.use(gpu.tensor(shape, data));
      const [tx, dy] = [x, dyData].map((data) => tensor([rows, D], data));
      const [scale, bias] = [scaleData, biasData].map((data) => tensor([affine], data));
      const [y, dx, stats] = [[rows, D], [rows, D], [rows, 2]].map((shape) => tensor(shape));
      await gpu.run((s) => {
        recordLayerNorm(s, kernels, { x: tx, y, stats, scale, bias, D, channels, epsilon: eps });
        recordLayerNormBackward(s, kernels, { x: tx, dy, stats, scale, dx, D, channels });
      });
      assertClose(await gpu.read(y), layerNormOracle(x, D, scaleData, biasData, eps, channels), D, `${what}: y`);
      const grads = layerNormBackwardOracle(x, dyData, D, scaleData, eps, channels);
      assertClose(await gpu.read(dx), grads.dx, D, `${what}: dx`);
    },
  );
}
