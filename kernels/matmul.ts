/**
 * Matrix multiply on a GEMM core (gemm.ts): the dense layer forward (X W^T + b) and both backwards.
 *
 * @example
 * ```ts
 * import { Gpu } from "./gpu.ts";
 * const gpu = await Gpu.create();
 * const kernel = await matmulKernel(gpu);
 * const a = gpu.tensor([2, 3], [1, 2, 3, 4, 5, 6]);
 * const b = gpu.tensor([3, 1], [1, 1, 1]);
 * const c = gpu.tensor([2, 1]);
 * await gpu.run((step) => recordMatmul(step, kernel, { a, b, c, M: 2, N: 1, K: 3 }));
 * console.log(await gpu.read(c)); // [6, 15]
 * ```
 */
import tgpu from "typegpu";
import * as d from "typegpu/data";
import type { Gpu, Step } from "./gpu.ts";
import { compileGemm, defineGemmKernels, type GemmCore, gemmEntries, type GemmKernel, recordGemm } from "./gemm.ts";
import { readWgsl } from "./kernel.ts";
import type { TensorLike } from "./tensor.ts";

const MatmulParams = d.struct({
  M: d.u32,
  N: d.u32,
  K: d.u32,
  transA: d.u32,
  transB: d.u32,
  hasBias: d.u32,
  strideA: d.u32,
  strideB: d.u32,
  strideC: d.u32,
}).$name("MatmulParams");

const layout = tgpu.bindGroupLayout({
  params: { uniform: MatmulParams },
  a: { storage: d.arrayOf(d.f32), access: "readonly" },
  b: { storage: d.arrayOf(d.f32), access: "readonly" },
  bias: { storage: d.arrayOf(d.f32), access: "readonly" },
  c: { storage: d.arrayOf(d.f32), access: "mutable" },
  ...gemmEntries,
});

export const matmulSpecs = defineGemmKernels(
  "matmul",
  layout,
  readWgsl(import.meta.url, "matmul.wgsl") + readWgsl(import.meta.url, "gemm_b_matrix.wgsl"),
);

export type MatmulKernel = GemmKernel<typeof layout.entries>;

export interface MatmulArgs {
  a: TensorLike;
  b: TensorLike;
  c: TensorLike;
  /** Added to every row of C (length N); omit for none. */
  bias?: TensorLike;
  M: number;
  N: number;
  K: number;
  transA?: boolean;
  transB?: boolean;
  /** Independent products stacked along the first axis (default 1). */
  batch?: number;
}

/** Records C = op(A) op(B) (+ bias) into a step. */
export function recordMatmul(step: Step, kernel: MatmulKernel, args: MatmulArgs): void {
  const { M, N, K, batch = 1 } = args;
  recordGemm(
    step,
    kernel,
    {
      params: {
        M,
        N,
        K,
        transA: args.transA ? 1 : 0,
        transB: args.transB ? 1 : 0,
        hasBias: args.bias ? 1 : 0,
        strideA: M * K,
        strideB: K * N,
        strideC: M * N,
      },
      a: args.a,
      b: args.b,
      bias: args.bias ?? step.placeholder,
      c: args.c,
    },
    M,
    N,
    K,
    batch,
  );
}

/** Compiles the matmul kernel on a device (cached), with the adapter's GEMM core unless `core` is given. */
export function matmulKernel(gpu: Gpu, core?: GemmCore): Promise<MatmulKernel> {
  return compileGemm(gpu, matmulSpecs, core);
}
