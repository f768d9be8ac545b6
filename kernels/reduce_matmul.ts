/**
 * Matrix products between two activations, batched over broadcast batch dims (ONNX and numpy
 * MatMul), on the GEMM core (gemm.ts): C[..., M, N] = op(A)[..., M, K] op(B)[..., K, N].
 *
 * @example
 * ```ts
 * import { Gpu } from "./gpu.ts";
 * const gpu = await Gpu.create();
 * const kernel = await batchedMatmulKernel(gpu);
 * const a = gpu.tensor([2, 1, 2], [1, 2, 3, 4]); // two 1 x 2 matrices
 * const b = gpu.tensor([2, 1], [1, 1]); // one 2 x 1 matrix, broadcast over both
 * const c = gpu.tensor([2, 1, 1]);
 * await gpu.run((step) => recordBatchedMatmul(step, kernel, { a, b, c }));
 * console.log(await gpu.read(c)); // [3, 7]
 * ```
 */
import tgpu from "typegpu";
import * as d from "typegpu/data";
import type { Gpu, Step } from "./gpu.ts";
import { compileGemm, defineGemmKernels, type GemmCore, gemmEntries, type GemmKernel, recordGemm } from "./gemm.ts";
import { readWgsl } from "./kernel.ts";
import { checkSizes, sizeOf, type TensorLike } from "./tensor.ts";

/** Most batch dims of a product (after merging neighbours that both operands share). */
export const MATMUL_MAX_BATCH_DIMS = 8;

const Dims = d.arrayOf(d.vec4u, MATMUL_MAX_BATCH_DIMS / 4);

const BatchedMatmulParams = d.struct({
  M: d.u32,
  N: d.u32,
  K: d.u32,
  transA: d.u32,
  transB: d.u32,
  batchRank: d.u32,
  batchSizes: Dims,
  stridesA: Dims,
  stridesB: Dims,
}).$name("BatchedMatmulParams");

const layout = tgpu.bindGroupLayout({
  params: { uniform: BatchedMatmulParams },
  a: { storage: d.arrayOf(d.f32), access: "readonly" },
  b: { storage: d.arrayOf(d.f32), access: "readonly" },
  c: { storage: d.arrayOf(d.f32), access: "mutable" },
  ...gemmEntries,
});

export const batchedMatmulSpecs = defineGemmKernels(
  "batched_matmul",
  layout,
  readWgsl(import.meta.url, "reduce_matmul.wgsl") + readWgsl(import.meta.url, "gemm_b_matrix.wgsl"),
);

export type BatchedMatmulKernel = GemmKernel<typeof layout.entries>;

/** Compiles the batched matmul on a device (cached), with the adapter's GEMM core unless `core` is given. */
export function batchedMatmulKernel(gpu: Gpu, core?: GemmCore): Promise<BatchedMatmulKernel> {
  return compileGemm(gpu, batchedMatmulSpecs, core);
}

export interface BatchedMatmulArgs {
  /** [...batchA, M, K], or [...batchA, K, M] with transA; rank >= 2. */
  a: TensorLike;
  /** [...batchB, K, N], or [...batchB, N, K] with transB; rank >= 2. */
  b: TensorLike;
  /** [...broadcast(batchA, batchB), M, N], overwritten. */
  c: TensorLike;
  transA?: boolean;
  transB?: boolean;
}

/** The broadcast of two batch shapes (numpy rules, aligned on the right); throws where they disagree. */
export function broadcastBatch(a: readonly number[], b: readonly number[]): number[] {
  const rank = Math.max(a.length, b.length);
  return Array.from({ length: rank }, (_, i) => {
    const x = a[a.length - rank + i] ?? 1;
    const y = b[b.length - rank + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) throw new Error(`batch dims [${a}] and [${b}] do not broadcast`);
    return Math.max(x, y);
  });
}

/** Each output batch dim's stride in an operand of batch shape `own` holding `matrix` values per matrix (0 where it broadcasts). */
function batchStrides(own: readonly number[], out: readonly number[], matrix: number): number[] {
  const strides = new Array(out.length).fill(0);
  let stride = matrix;
  for (let i = out.length - 1, j = own.length - 1; i >= 0; i--, j--) {
    const size = j >= 0 ? own[j] : 1;
    strides[i] = size === 1 ? 0 : stride;
    stride *= size;
  }
  return strides;
}

function packed(values: number[]): d.Infer<typeof Dims> {
  const all = [...values, ...new Array(MATMUL_MAX_BATCH_DIMS - values.length).fill(0)];
  return [d.vec4u(all[0], all[1], all[2], all[3]), d.vec4u(all[4], all[5], all[6], all[7])];
}

/** Records C = op(A) op(B) for every batch index, A's and B's batch dims broadcast against each other. */
export function recordBatchedMatmul(step: Step, kernel: BatchedMatmulKernel, args: BatchedMatmulArgs): void {
  const [sa, sb] = [args.a.shape, args.b.shape];
  if (sa.length < 2 || sb.length < 2) throw new Error(`batched_matmul: operands [${sa}] and [${sb}] need rank >= 2`);
  const [M, K] = args.transA ? [sa.at(-1)!, sa.at(-2)!] : [sa.at(-2)!, sa.at(-1)!];
  const [Kb, N] = args.transB ? [sb.at(-1)!, sb.at(-2)!] : [sb.at(-2)!, sb.at(-1)!];
  if (K !== Kb) throw new Error(`batched_matmul: [${sa}] and [${sb}] disagree on the inner dim (${K} vs ${Kb})`);
  const batchA = sa.slice(0, -2);
  const batchB = sb.slice(0, -2);
  const batch = broadcastBatch(batchA, batchB);
  let stridesA = batchStrides(batchA, batch, M * K);
  let stridesB = batchStrides(batchB, batch, K * N);
  let sizes = batch;
  // Merge neighbouring dims where neither operand broadcasts (the usual case), so any rank fits.
  const merged: { size: number; a: number; b: number }[] = [];
  sizes.forEach((size, i) => {
    if (size === 1) return;
    const last = merged[merged.length - 1];
    if (last && stridesA[i] * size === last.a && stridesB[i] * size === last.b) {
      last.size *= size;
      last.a = stridesA[i];
      last.b = stridesB[i];
    } else merged.push({ size, a: stridesA[i], b: stridesB[i] });
  });
  if (merged.length > MATMUL_MAX_BATCH_DIMS) {
    throw new Error(`batched_matmul: [${sa}] x [${sb}] has more than ${MATMUL_MAX_BATCH_DIMS} batch dims`);
  }
  sizes = merged.map((m) => m.size);
  stridesA = merged.map((m) => m.a);
  stridesB = merged.map((m) => m.b);
  const count = sizeOf(sizes);
  checkSizes("batched_matmul", { c: [args.c, count * M * N] });
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
        batchRank: sizes.length,
        batchSizes: packed(sizes),
        stridesA: packed(stridesA),
        stridesB: packed(stridesB),
      },
      a: args.a,
      b: args.b,
      c: args.c,
    },
    M,
    N,
    K,
    count,
  );
}
