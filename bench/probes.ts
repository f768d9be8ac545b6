/**
 * The physical limits the cases are measured against, probed on the adapter itself: peak fma
 * throughput (probe_fma.wgsl) and memory bandwidth as kernels see it (probe_memory.wgsl), plus
 * the copy engine's (`copyBufferToBuffer`) for reference. Each probe is timed like a case and its
 * best of `runs` kept.
 */
import tgpu from "typegpu";
import * as d from "typegpu/data";
import { type Gpu, grid1d } from "../kernels/gpu.ts";
import { defineKernel, readWgsl } from "../kernels/kernel.ts";
import type { GpuTimer } from "./timer.ts";

/** Peaks in GFLOP/s and GB/s. */
export interface Probes {
  fmaGflops: number;
  /** Best of the read and copy kernels: the bandwidth shares are of this. */
  kernelGbps: number;
  readGbps: number;
  copyGbps: number;
  /** copyBufferToBuffer, for reference (not a kernel). */
  copyEngineGbps: number;
}

const fmaLayout = tgpu.bindGroupLayout({
  params: { uniform: d.struct({ iterations: d.u32 }).$name("FmaProbeParams") },
  dst: { storage: d.arrayOf(d.f32), access: "mutable" },
});
const memoryLayout = tgpu.bindGroupLayout({
  params: { uniform: d.struct({ threads: d.u32 }).$name("MemoryProbeParams") },
  src: { storage: d.arrayOf(d.vec4f), access: "readonly" },
  dst: { storage: d.arrayOf(d.vec4f), access: "mutable" },
});
const fmaSpec = defineKernel("probe_fma", fmaLayout, readWgsl(import.meta.url, "probe_fma.wgsl"));
const memoryCode = readWgsl(import.meta.url, "probe_memory.wgsl");
const readSpec = defineKernel("probe_read", memoryLayout, memoryCode, "readAll");
const copySpec = defineKernel("probe_copy", memoryLayout, memoryCode, "copyAll");

/** fmas per loop iteration of probe_fma.wgsl and vec4s per invocation of probe_memory.wgsl. */
const FMAS_PER_ITERATION = 8 * 4 * 4;
const VEC4S_PER_INVOCATION = 16;

async function best(runs: number, once: () => Promise<number>): Promise<number> {
  await once(); // compile and warm up
  let ms = Infinity;
  for (let i = 0; i < runs; i++) ms = Math.min(ms, await once());
  return ms;
}

/** Probes the adapter: about a second of GPU time per probe and run. */
export async function probeAdapter(gpu: Gpu, timer: GpuTimer, runs = 3): Promise<Probes> {
  const [fma, read, copy] = await Promise.all([gpu.kernel(fmaSpec), gpu.kernel(readSpec), gpu.kernel(copySpec)]);
  const invocations = 64 * 256;
  const iterations = 2048;
  using out = gpu.tensor([invocations]);
  const fmaMs = await best(
    runs,
    async () => (await timer.time((s) => s.dispatch(fma, { params: { iterations }, dst: out }, [256]))).ms,
  );
  const fmaGflops = 2 * FMAS_PER_ITERATION * iterations * invocations / fmaMs / 1e6;

  const threads = 64 * 1024;
  const vec4s = threads * VEC4S_PER_INVOCATION; // 16 MiB
  using src = gpu.zeros([vec4s * 4]);
  using dst = gpu.tensor([vec4s * 4]);
  const memory = (kernel: typeof read) => async () =>
    (await timer.time((s) => s.dispatch(kernel, { params: { threads }, src, dst }, grid1d(threads / 64)))).ms;
  const readGbps = vec4s * 16 / (await best(runs, memory(read))) / 1e6;
  const copyGbps = 2 * vec4s * 16 / (await best(runs, memory(copy))) / 1e6;
  const copyEngineGbps = 2 * vec4s * 16 /
    (await best(runs, async () => (await timer.time((s) => s.copy(src, dst))).ms)) /
    1e6;
  return { fmaGflops, kernelGbps: Math.max(readGbps, copyGbps), readGbps, copyGbps, copyEngineGbps };
}
