import assert from "node:assert/strict";
import fc from "fast-check";
import {
  type Conv2dBackwardInputPath,
  conv2dBackwardInputPath,
  conv2dDefaults,
  type Conv2dGeometry,
  type Conv2dKernels,
  conv2dKernels,
  conv2dOutputSize,
  recordConv2dBackwardInput,
  recordConv2dBackwardWeight,
  recordConv2dForward,
} from "../kernels/conv2d.ts";
import { GEMM_CORES, type GemmCore, SWAPPABLE_GEMM_CORES } from "../kernels/gemm.ts";
import { Gpu, type Step } from "../kernels/gpu.ts";
import {
  conv2dBackwardInputOracle,
  conv2dBackwardWeightOracle,
  conv2dForwardOracle,
  conv2dOutputLength,
} from "./conv_oracle.ts";
import { gpuTest, testGpu } from "./gpu_fixture.ts";
import { assertClose, randomArray } from "./oracle.ts";

const NUM_RUNS = 20;

/**
 * Random small geometries: odd and even sizes up to 12, kernels 1-4, stride 1-3, padding 0-3
 * (bottom and right drawn apart from top and left; at times past the dilated kernel's reach),
 * dilation 1-2, 1-4 groups of 1-2 channels each, or depthwise with 2-8 channels. Geometries
 * whose output would be empty are filtered out.
 */
const geometryArb: fc.Arbitrary<Conv2dGeometry> = fc.record({
  batch: fc.integer({ min: 1, max: 3 }),
  groups: fc.integer({ min: 1, max: 4 }),
  groupIn: fc.integer({ min: 1, max: 2 }),
  groupOut: fc.integer({ min: 1, max: 2 }),
  depthwise: fc.boolean(),
  inHeight: fc.integer({ min: 1, max: 12 }),
  inWidth: fc.integer({ min: 1, max: 12 }),
  kernelHeight: fc.integer({ min: 1, max: 4 }),
  kernelWidth: fc.integer({ min: 1, max: 4 }),
  strideH: fc.integer({ min: 1, max: 3 }),
  strideW: fc.integer({ min: 1, max: 3 }),
  padH: fc.integer({ min: 0, max: 3 }),
  padW: fc.integer({ min: 0, max: 3 }),
  padBottom: fc.integer({ min: 0, max: 3 }),
  padRight: fc.integer({ min: 0, max: 3 }),
  dilationH: fc.integer({ min: 1, max: 2 }),
  dilationW: fc.integer({ min: 1, max: 2 }),
}).map(({ groups, groupIn, groupOut, depthwise, ...rest }) => {
  const g = depthwise ? 2 * groups : groups;
  return {
    ...rest,
    groups: g,
    inChannels: g * (depthwise ? 1 : groupIn),
    outChannels: g * (depthwise ? 1 : groupOut),
  };
}).filter((geom) => {
  try {
    conv2dOutputSize(geom);
    return true;
  } catch {
    return false;
  }
});

function describe(geom: Conv2dGeometry): string {
  return JSON.stringify(geom);
}

/** Random inputs of a geometry: x, w, bias and a cotangent dy, all in [-1, 1). */
function randomInputs(geom: Conv2dGeometry, seed: number) {
  const { batch, inChannels, inHeight, inWidth, outChannels, groups, kernelHeight, kernelWidth } = geom;
  return {
    x: randomArray(batch * inChannels * inHeight * inWidth, seed),
    w: randomArray(outChannels * (inChannels / groups) * kernelHeight * kernelWidth, seed + 1),
    bias: randomArray(outChannels, seed + 2),
    dy: randomArray(conv2dOutputLength(geom), seed + 3),
  };
}

function shapes(geom: Conv2dGeometry) {
  const { outHeight, outWidth } = conv2dOutputSize(geom);
  return {
    x: [geom.batch, geom.inChannels, geom.inHeight, geom.inWidth],
    w: [geom.outChannels, geom.inChannels / geom.groups, geom.kernelHeight, geom.kernelWidth],
    y: [geom.batch, geom.outChannels, outHeight, outWidth],
  };
}

type Which = "forward" | "forward+bias" | "backwardInput" | "backwardWeight";

/**
 * Runs one kernel on the GPU and asserts it matches its oracle; returns the max error. The input
 * gradient takes `path`, or the one its geometry picks.
 */
async function checkKernel(
  gpu: Gpu,
  kernels: Conv2dKernels,
  geom: Conv2dGeometry,
  seed: number,
  which: Which,
  path?: Conv2dBackwardInputPath,
): Promise<number> {
  const inputs = randomInputs(geom, seed);
  const shape = shapes(geom);
  const { outHeight, outWidth } = conv2dOutputSize(geom);
  const groupIn = geom.inChannels / geom.groups, groupOut = geom.outChannels / geom.groups;
  const taps = geom.kernelHeight * geom.kernelWidth;
  using x = gpu.tensor(shape.x, inputs.x);
  using w = gpu.tensor(shape.w, inputs.w);
  using dy = gpu.tensor(shape.y, inputs.dy);
  using bias = gpu.tensor([geom.outChannels], inputs.bias);
  if (which === "backwardInput") {
    using dx = gpu.tensor(shape.x);
    await gpu.run((s) => recordConv2dBackwardInput(s, kernels, { dy, weight: w, dx, geom, path }));
    const expected = conv2dBackwardInputOracle(geom, inputs.dy, inputs.w);
    return assertClose(await gpu.read(dx), expected, groupOut * taps, `backward input ${path} ${describe(geom)}`);
  }
  if (which === "backwardWeight") {
    using dw = gpu.tensor(shape.w);
    await gpu.run((s) => recordConv2dBackwardWeight(s, kernels, { dy, x, dweight: dw, geom }));
    const expected = conv2dBackwardWeightOracle(geom, inputs.dy, inputs.x);
    const reduction = geom.batch * outHeight * outWidth;
    return assertClose(await gpu.read(dw), expected, reduction, `backward weight ${describe(geom)}`);
  }
  const withBias = which === "forward+bias";
  using y = gpu.tensor(shape.y);
  await gpu.run((s) => recordConv2dForward(s, kernels, { x, weight: w, bias: withBias ? bias : undefined, y, geom }));
  const expected = conv2dForwardOracle(geom, inputs.x, inputs.w, withBias ? inputs.bias : undefined);
  return assertClose(await gpu.read(y), expected, groupIn * taps, `${which} ${describe(geom)}`);
}

/** Property: the GPU kernel matches its oracle on random geometries (the input gradient by `path`). */
async function checkRandomGeometries(
  which: (withBias: boolean) => Which,
  core: GemmCore,
  path?: Conv2dBackwardInputPath,
): Promise<void> {
  const gpu = await testGpu();
  const kernels = await conv2dKernels(gpu, core);
  await fc.assert(
    fc.asyncProperty(geometryArb, fc.boolean(), fc.integer(), async (geom, flag, seed) => {
      await checkKernel(gpu, kernels, geom, seed, which(flag), path);
    }),
    { numRuns: NUM_RUNS },
  );
}

// Forward and both input-gradient paths are swappable (kernels/gemm.ts): they run in both orientations.
for (const core of SWAPPABLE_GEMM_CORES) {
  Deno.test({
    name: `conv2d forward (${core} GEMM core) matches the float64 oracle on random geometries, with and without bias`,
    ...gpuTest,
    fn: () => checkRandomGeometries((withBias) => withBias ? "forward+bias" : "forward", core),
  });

  for (const path of ["implicit", "columns"] as const) {
    Deno.test({
      name: `conv2d backward input (${core} GEMM core, ${path} path) matches the float64 oracle on random geometries`,
      ...gpuTest,
      fn: () => checkRandomGeometries(() => "backwardInput", core, path),
    });
  }
}

for (const core of GEMM_CORES) {
  Deno.test({
    name: `conv2d backward weight (${core} GEMM core) matches the float64 oracle on random geometries`,
    ...gpuTest,
    fn: () => checkRandomGeometries(() => "backwardWeight", core),
  });
}

for (const core of SWAPPABLE_GEMM_CORES) {
  Deno.test({
    name: `conv2d kernels (${core} GEMM core) match the oracles for channel counts that select every GEMM variant`,
    ...gpuTest,
    async fn() {
      const gpu = await testGpu();
      const kernels = await conv2dKernels(gpu, core);
      // M is outChannels (forward, weight gradient) or inChannels (input gradient); 70 also spans
      // several 64-row tiles and K > 64. The last three take the window core's paths: grouped,
      // strided and dilated; N past its widest variant with K past one window (weight gradient);
      // K = 120*9 past one window (forward).
      const cases: Partial<Conv2dGeometry>[] = [
        ...[[1, 5], [5, 17], [12, 70], [17, 2]].map(([inChannels, outChannels]) => ({ inChannels, outChannels })),
        { inChannels: 16, outChannels: 16, groups: 2, strideH: 2, strideW: 2, dilationH: 2, padH: 2, padW: 2 },
        { inChannels: 8, outChannels: 12, inHeight: 48, inWidth: 48, padW: 1 },
        { batch: 1, inChannels: 120, outChannels: 9, inHeight: 5, inWidth: 5 },
      ];
      for (const fields of cases) {
        const geom: Conv2dGeometry = {
          ...conv2dDefaults,
          batch: 2,
          inChannels: 1,
          inHeight: 7,
          inWidth: 6,
          outChannels: 1,
          kernelHeight: 3,
          kernelWidth: 3,
          padH: 1,
          padW: 0,
          ...fields,
        };
        // The weight gradient has no swapped orientation: window-swapped runs it as window does.
        const kinds: Which[] = [
          "forward+bias",
          "backwardInput",
          ...(core === "window-swapped" ? [] : ["backwardWeight"] as const),
        ];
        for (const which of kinds) {
          await checkKernel(gpu, kernels, geom, 42, which);
        }
      }
    },
  });
}

/** Loss of the forward oracle against a fixed cotangent: sum(y * dy). */
function loss(geom: Conv2dGeometry, x: ArrayLike<number>, w: ArrayLike<number>, dy: ArrayLike<number>): number {
  const y = conv2dForwardOracle(geom, x, w);
  let sum = 0;
  for (let i = 0; i < y.length; i++) sum += y[i] * dy[i];
  return sum;
}

/**
 * Property: an oracle gradient (of loss = sum(y * dy)) agrees with central finite differences of
 * the forward oracle, in float64, at a few sampled coordinates of `wrt`.
 */
function checkFiniteDifferences(
  wrt: "x" | "w",
  gradient: (geom: Conv2dGeometry, inputs: ReturnType<typeof randomInputs>) => Float64Array,
): void {
  const h = 1e-3;
  fc.assert(
    fc.property(geometryArb, fc.integer(), (geom, seed) => {
      const inputs = randomInputs(geom, seed);
      const x = Float64Array.from(inputs.x), w = Float64Array.from(inputs.w);
      const grad = gradient(geom, inputs);
      const target = wrt === "x" ? x : w;
      for (const u of randomArray(6, seed + 4)) {
        const i = Math.floor((u + 1) / 2 * target.length);
        const saved = target[i];
        target[i] = saved + h;
        const plus = loss(geom, x, w, inputs.dy);
        target[i] = saved - h;
        const minus = loss(geom, x, w, inputs.dy);
        target[i] = saved;
        const numeric = (plus - minus) / (2 * h);
        assert.ok(
          Math.abs(numeric - grad[i]) <= 1e-8 * (1 + Math.abs(numeric)),
          `d loss / d ${wrt}[${i}]: oracle ${grad[i]}, finite difference ${numeric}, ${describe(geom)}`,
        );
      }
    }),
    { numRuns: 40 },
  );
}

Deno.test("conv2d backward input oracle agrees with finite differences of the forward oracle", () => {
  checkFiniteDifferences("x", (geom, { dy, w }) => conv2dBackwardInputOracle(geom, dy, w));
});

Deno.test("conv2d backward weight oracle agrees with finite differences of the forward oracle", () => {
  checkFiniteDifferences("w", (geom, { dy, x }) => conv2dBackwardWeightOracle(geom, dy, x));
});

const base: Conv2dGeometry = {
  ...conv2dDefaults,
  batch: 1,
  inChannels: 6,
  inHeight: 5,
  inWidth: 5,
  outChannels: 4,
  kernelHeight: 3,
  kernelWidth: 3,
};

Deno.test("conv2dOutputSize computes the PyTorch output size", () => {
  assert.deepEqual(conv2dOutputSize(base), { outHeight: 3, outWidth: 3 });
  assert.deepEqual(
    conv2dOutputSize({ ...base, inHeight: 32, inWidth: 31, strideH: 2, strideW: 3, padH: 1, padW: 2, dilationW: 2 }),
    { outHeight: 16, outWidth: 11 },
  );
});

Deno.test("conv2dOutputSize rejects channels not divisible by groups, empty outputs and invalid fields", () => {
  assert.throws(() => conv2dOutputSize({ ...base, groups: 4 }), /inChannels 6 .* divisible by groups 4/);
  assert.throws(() => conv2dOutputSize({ ...base, groups: 3 }), /outChannels 4 must both be divisible by groups 3/);
  assert.throws(
    () => conv2dOutputSize({ ...base, inHeight: 2 }),
    /output height would be empty: input height 2 \+ 2 \* padding 0 is smaller than the dilated kernel height 3/,
  );
  assert.throws(() => conv2dOutputSize({ ...base, dilationW: 3 }), /output width would be empty/);
  assert.throws(() => conv2dOutputSize({ ...base, strideH: 0 }), /strideH must be an integer >= 1, got 0/);
  assert.throws(() => conv2dOutputSize({ ...base, padW: -1 }), /padW must be an integer >= 0, got -1/);
  assert.throws(() => conv2dOutputSize({ ...base, batch: 1.5 }), /batch must be an integer >= 1, got 1.5/);
});

Deno.test({
  name: "conv2d record functions reject tensors whose size does not match the geometry",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    const kernels = await conv2dKernels(gpu);
    using x = gpu.tensor([1, 6, 5, 4]);
    using weight = gpu.tensor([4, 6, 3, 3]);
    using y = gpu.tensor([1, 4, 3, 3]);
    // The sizes are checked before anything is recorded, so no step is needed.
    const noStep = null as unknown as Step;
    assert.throws(
      () => recordConv2dForward(noStep, kernels, { x, weight, y, geom: base }),
      /conv2d_forward: x has shape \[1,6,5,4\] but needs shape \[1,6,5,5\]/,
    );
  },
});

Deno.test({
  name: "conv2d backward input over more taps than one shader loop may run (ViT's 16x16 patch conv) matches its oracle",
  ...gpuTest,
  async fn() {
    // K = Cout * 16 * 16 = 65,792 taps per input pixel for M = Cin = 1 row: past llvmpipe's 65,535 loop back-edges.
    const geom: Conv2dGeometry = {
      ...conv2dDefaults,
      batch: 1,
      inChannels: 1,
      inHeight: 32,
      inWidth: 32,
      outChannels: 257,
      kernelHeight: 16,
      kernelWidth: 16,
      strideH: 16,
      strideW: 16,
    };
    const gpu = await testGpu();
    await checkKernel(gpu, await conv2dKernels(gpu), geom, 7, "backwardInput");
  },
});

/** ResNet's stem (3 channels, 7x7, stride 2, padding 3) on a small image. */
const stem: Conv2dGeometry = {
  ...conv2dDefaults,
  batch: 3,
  inChannels: 3,
  inHeight: 16,
  inWidth: 15,
  outChannels: 32,
  kernelHeight: 7,
  kernelWidth: 7,
  strideH: 2,
  strideW: 2,
  padH: 3,
  padW: 3,
};

Deno.test({
  name: "conv2d backward input of a ResNet-like stem takes the columns path and matches its oracle on both paths",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    assert.equal(conv2dBackwardInputPath(stem, gpu.bindingLimit), "columns");
    // With 2 output channels the columns (147 values per output pixel) would dwarf dx and dy.
    assert.equal(conv2dBackwardInputPath({ ...stem, outChannels: 2 }, gpu.bindingLimit), "implicit");
    const kernels = await conv2dKernels(gpu);
    for (const path of [undefined, "implicit", "columns"] as const) {
      await checkKernel(gpu, kernels, stem, 5, "backwardInput", path);
    }
  },
});

Deno.test({
  name: "conv2d backward input's columns path splits the batch where its columns would pass the binding limit",
  ...gpuTest,
  async fn() {
    // One image's columns (3*49 rows x 8*8 pixels) take 37,632 bytes: two images per chunk, then one.
    const gpu = await Gpu.create({ maxBindingBytes: 96_000 });
    try {
      assert.equal(conv2dBackwardInputPath(stem, gpu.bindingLimit), "columns");
      await checkKernel(gpu, await conv2dKernels(gpu), stem, 6, "backwardInput", "columns");
      // Past one image's worth the columns cannot be bound at all: the implicit GEMM instead.
      assert.equal(conv2dBackwardInputPath(stem, 30_000), "implicit");
    } finally {
      gpu.destroy();
    }
  },
});
