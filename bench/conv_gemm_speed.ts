/**
 * GFLOP/s of conv2d forward and both backwards (N=32, 64->64, 16x16, 3x3, pad 1) and of GEMM
 * 1024^3 on this machine's adapter, for each GEMM core, with their max error against the float64
 * oracles. Run: deno run -A bench/conv_gemm_speed.ts (best of 3 timed runs after one warm-up).
 */
import { Gpu, type Step } from "../kernels/gpu.ts";
import {
  conv2dDefaults,
  conv2dKernels,
  recordConv2dBackwardInput,
  recordConv2dBackwardWeight,
  recordConv2dForward,
} from "../kernels/conv2d.ts";
import { matmulKernel, recordMatmul } from "../kernels/matmul.ts";
import { GEMM_CORES } from "../kernels/gemm.ts";
import { conv2dBackwardInputOracle, conv2dBackwardWeightOracle, conv2dForwardOracle } from "../tests/conv_oracle.ts";
import { matmulOracle, maxAbsDiff, randomArray } from "../tests/oracle.ts";
const gpu = await Gpu.create();
console.log("adapter:", gpu.adapter.description, "fallback:", gpu.adapter.isFallbackAdapter);
async function best(f: (s: Step) => void, runs = 3): Promise<number> {
  await gpu.run(f);
  await gpu.sync();
  let ms = Infinity;
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await gpu.run(f);
    await gpu.sync();
    ms = Math.min(ms, performance.now() - t);
  }
  return ms;
}
const geom = {
  ...conv2dDefaults,
  batch: 32,
  inChannels: 64,
  inHeight: 16,
  inWidth: 16,
  outChannels: 64,
  kernelHeight: 3,
  kernelWidth: 3,
  padH: 1,
  padW: 1,
};
const xs = randomArray(32 * 64 * 256, 1), ws = randomArray(64 * 64 * 9, 2), dys = randomArray(32 * 64 * 256, 3);
const flops = 2 * 32 * 64 * 256 * 64 * 9;
const fwdRef = conv2dForwardOracle(geom, xs, ws),
  bwdIRef = conv2dBackwardInputOracle(geom, dys, ws),
  bwdWRef = conv2dBackwardWeightOracle(geom, dys, xs);
const N = 1024;
const a = randomArray(N * N, 4), b = randomArray(N * N, 5);
const mmRef = matmulOracle(a, b, N, N, N);
for (const core of GEMM_CORES) {
  const k = await conv2dKernels(gpu, core);
  using x = gpu.tensor([32, 64, 16, 16], xs),
    w = gpu.tensor([64, 64, 3, 3], ws),
    y = gpu.tensor([32, 64, 16, 16]),
    dy = gpu.tensor([32, 64, 16, 16], dys),
    dx = gpu.tensor([32, 64, 16, 16]),
    dw = gpu.tensor([64, 64, 3, 3]);
  const tf = await best((s) => recordConv2dForward(s, k, { x, weight: w, y, geom }));
  const ti = await best((s) => recordConv2dBackwardInput(s, k, { dy, weight: w, dx, geom }));
  const tw = await best((s) => recordConv2dBackwardWeight(s, k, { dy, x, dweight: dw, geom }));
  console.log(
    `${core}: conv2d forward ${tf.toFixed(0)} ms ${(flops / tf / 1e6).toFixed(2)} GFLOP/s (max err ${
      maxAbsDiff(await gpu.read(y), fwdRef).toExponential(1)
    }); backward input ${(flops / ti / 1e6).toFixed(2)} GFLOP/s (err ${
      maxAbsDiff(await gpu.read(dx), bwdIRef).toExponential(1)
    }); backward weight ${(flops / tw / 1e6).toFixed(2)} GFLOP/s (err ${
      maxAbsDiff(await gpu.read(dw), bwdWRef).toExponential(1)
    })`,
  );
  const mk = await matmulKernel(gpu, core);
  using ta = gpu.tensor([N, N], a), tb = gpu.tensor([N, N], b), tc = gpu.tensor([N, N]);
  const tm = await best((s) => recordMatmul(s, mk, { a: ta, b: tb, c: tc, M: N, N, K: N }), 2);
  console.log(
    `${core}: GEMM 1024^3 ${tm.toFixed(0)} ms ${(2 * N ** 3 / tm / 1e6).toFixed(2)} GFLOP/s (max err ${
      maxAbsDiff(await gpu.read(tc), mmRef).toExponential(1)
    })`,
  );
}
