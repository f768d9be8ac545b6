/** One GPU device shared by the test files of a process (creating devices is slow on llvmpipe). */
import { Gpu } from "../kernels/gpu.ts";

let shared: Promise<Gpu> | null = null;

export function testGpu(): Promise<Gpu> {
  shared ??= Gpu.create();
  return shared;
}

/** Deno.test options for GPU tests: the device outlives each test, so skip resource sanitizers. */
export const gpuTest = { sanitizeResources: false, sanitizeOps: false } as const;
