/**
 * The backend probe's entry module: run in a subprocess with `DENO_WEBGPU_BACKEND` set, it requests
 * that backend's adapter and, for a software (fallback) adapter, times a GEMM and a convolution with
 * the engine's own kernels. It prints one JSON line, a `ProbeReport`; any failure exits non-zero.
 *
 *   DENO_WEBGPU_BACKEND=gl deno run --allow-all kernels/backend_probe.ts
 */
import { conv2dDefaults, type Conv2dGeometry, conv2dKernels, recordConv2dForward } from "./conv2d.ts";
import { Gpu, type Step } from "./gpu.ts";
import { matmulKernel, recordMatmul } from "./matmul.ts";
import { sizeOf } from "./tensor.ts";

/** What one probe subprocess reports. */
export interface ProbeReport {
  description: string;
  isFallbackAdapter: boolean;
  /** GEMM plus convolution, best of the timed runs each; absent for a hardware adapter (not timed). */
  ms?: number;
}

/** GEMM 512^3: a tenth of a second on lavapipe, tens of milliseconds on llvmpipe over GL. */
const GEMM_SIZE = 512;
/** The bench's convolution target at a quarter of its batch: the block the audit's models run most. */
const CONV: Conv2dGeometry = {
  ...conv2dDefaults,
  batch: 8,
  inChannels: 64,
  inHeight: 16,
  inWidth: 16,
  outChannels: 64,
  kernelHeight: 3,
  kernelWidth: 3,
  padH: 1,
  padW: 1,
};
/** Timed runs after one warm-up (which compiles); the best one counts, as the CPU is shared. */
const RUNS = 3;

async function bestOf(gpu: Gpu, record: (step: Step) => void): Promise<number> {
  await gpu.run(record);
  await gpu.sync();
  let best = Infinity;
  for (let i = 0; i < RUNS; i++) {
    const start = performance.now();
    await gpu.run(record);
    await gpu.sync();
    best = Math.min(best, performance.now() - start);
  }
  return best;
}

async function probe(): Promise<ProbeReport> {
  using gpu = await Gpu.create();
  const { description, isFallbackAdapter } = gpu.adapter;
  if (!isFallbackAdapter) return { description, isFallbackAdapter };
  const n = GEMM_SIZE;
  const [matmul, conv] = await Promise.all([matmulKernel(gpu), conv2dKernels(gpu)]);
  const filled = (size: number) => Float32Array.from({ length: size }, (_, i) => (i % 7) / 7);
  const a = gpu.tensor([n, n], filled(n * n)), b = gpu.tensor([n, n], filled(n * n)), c = gpu.tensor([n, n]);
  const xShape = [CONV.batch, CONV.inChannels, CONV.inHeight, CONV.inWidth];
  const weightShape = [CONV.outChannels, CONV.inChannels, CONV.kernelHeight, CONV.kernelWidth];
  const x = gpu.tensor(xShape, filled(sizeOf(xShape)));
  const weight = gpu.tensor(weightShape, filled(sizeOf(weightShape)));
  const y = gpu.tensor([CONV.batch, CONV.outChannels, CONV.inHeight, CONV.inWidth]);
  const gemmMs = await bestOf(gpu, (step) => recordMatmul(step, matmul, { a, b, c, M: n, N: n, K: n }));
  const convMs = await bestOf(gpu, (step) => recordConv2dForward(step, conv, { x, weight, y, geom: CONV }));
  return { description, isFallbackAdapter, ms: gemmMs + convMs };
}

if (import.meta.main) {
  console.log(JSON.stringify(await probe()));
  Deno.exit(0);
}
