/**
 * Gram matrices of feature rows on a GEMM core: RBF kernel values exp(-gamma |x - y|^2), or the
 * squared distances themselves (for the median-heuristic bandwidth), one block of rows at a time
 * so that a Gram larger than GPU memory is computed block by block. Also the squared row norms
 * the distances are built from.
 *
 * @example
 * ```ts
 * import { Gpu } from "./gpu.ts";
 * const gpu = await Gpu.create();
 * const kernels = await rbfGramKernels(gpu);
 * const x = gpu.tensor([3, 2], [0, 0, 1, 0, 0, 2]);
 * const xT = gpu.tensor([2, 3], [0, 1, 0, 0, 0, 2]); // the same rows, transposed
 * const norms = gpu.tensor([3]);
 * const k = gpu.tensor([3, 3]);
 * await gpu.run((step) => {
 *   recordRowNorms(step, kernels, { x, out: norms });
 *   recordGram(step, kernels, { x, yT: xT, xNorm: norms, yNorm: norms, out: k, rowOffset: 0, rows: 3, gamma: 0.5, symmetric: true });
 * });
 * console.log(await gpu.read(k)); // [1, e^-0.5, e^-2, e^-0.5, 1, e^-2.5, e^-2, e^-2.5, 1]
 * ```
 */
import tgpu from "typegpu";
import * as d from "typegpu/data";
import { elementGrid, type Gpu, type Step } from "./gpu.ts";
import { compileGemm, defineGemmKernels, type GemmCore, gemmEntries, type GemmKernel, recordGemm } from "./gemm.ts";
import { defineKernel, type Kernel, readWgsl } from "./kernel.ts";
import { loopChunks } from "./loop_limit.ts";
import { checkSizes, type TensorLike } from "./tensor.ts";

const readonly = { storage: d.arrayOf(d.f32), access: "readonly" } as const;
const mutable = { storage: d.arrayOf(d.f32), access: "mutable" } as const;

const GramParams = d.struct({
  M: d.u32,
  N: d.u32,
  K: d.u32,
  rowOffset: d.u32,
  colOffset: d.u32,
  ldB: d.u32,
  rbf: d.u32,
  symmetric: d.u32,
  gamma: d.f32,
}).$name("GramParams");

const gramLayout = tgpu.bindGroupLayout({
  params: { uniform: GramParams },
  x: readonly,
  yT: readonly,
  xNorm: readonly,
  yNorm: readonly,
  out: mutable,
  ...gemmEntries,
});

const RowNormsParams = d.struct({ rows: d.u32, width: d.u32, start: d.u32, end: d.u32 }).$name("RowNormsParams");

const normsLayout = tgpu.bindGroupLayout({
  params: { uniform: RowNormsParams },
  x: readonly,
  out: mutable,
});

export const gramSpecs = defineGemmKernels("rbf_gram", gramLayout, readWgsl(import.meta.url, "rbf_gram.wgsl"));
export const rowNormsSpec = defineKernel("row_norms", normsLayout, readWgsl(import.meta.url, "row_norms.wgsl"));

/** The compiled Gram GEMM and row-norm kernels. */
export interface RbfGramKernels {
  gram: GemmKernel<typeof gramLayout.entries>;
  norms: Kernel<typeof normsLayout.entries>;
}

/** Compiles the Gram kernels on a device (cached), with the adapter's GEMM core unless `core` is given. */
export async function rbfGramKernels(gpu: Gpu, core?: GemmCore): Promise<RbfGramKernels> {
  const [gram, norms] = await Promise.all([compileGemm(gpu, gramSpecs, core), gpu.kernel(rowNormsSpec)]);
  return { gram, norms };
}

/** Records out[r] = |x_r|^2 for the rows of x [rows, width]. */
export function recordRowNorms(step: Step, kernels: RbfGramKernels, args: { x: TensorLike; out: TensorLike }): void {
  const [rows, width] = matrixShape("row_norms", args.x);
  checkSizes("row_norms", { out: [args.out, rows] });
  for (const { start, end } of loopChunks(width)) {
    step.dispatch(kernels.norms, { params: { rows, width, start, end }, x: args.x, out: args.out }, elementGrid(rows));
  }
}

export interface GramArgs {
  /** [n, width] feature rows; rows `rowOffset .. rowOffset + rows - 1` are this block's. */
  x: TensorLike;
  /** [width, m]: the feature rows of the Gram's columns, transposed (may be x's rows). */
  yT: TensorLike;
  /** [n] and [m] squared row norms (recordRowNorms). */
  xNorm: TensorLike;
  yNorm: TensorLike;
  /** [rows, cols], overwritten. */
  out: TensorLike;
  rowOffset: number;
  rows: number;
  /** The block's columns are y's rows colOffset .. colOffset + cols - 1 (default: all of them). */
  colOffset?: number;
  cols?: number;
  /** exp(-gamma d^2) when given; the squared distances d^2 when omitted. */
  gamma?: number;
  /** y's rows are x's rows: the diagonal distance is exactly 0 (default false). */
  symmetric?: boolean;
}

/** Records one block of the Gram matrix of x's rows against y's. */
export function recordGram(step: Step, kernels: RbfGramKernels, args: GramArgs): void {
  const [n, width] = matrixShape("rbf_gram", args.x);
  const [widthY, m] = matrixShape("rbf_gram", args.yT);
  if (width !== widthY) throw new Error(`rbf_gram: x has width ${width} but yT is [${args.yT.shape}]`);
  const { rowOffset, rows, colOffset = 0 } = args;
  const cols = args.cols ?? m - colOffset;
  const inside = (start: number, count: number, total: number) =>
    Number.isInteger(start) && start >= 0 && count >= 1 && start + count <= total;
  if (!inside(rowOffset, rows, n) || !inside(colOffset, cols, m)) {
    throw new Error(`rbf_gram: block rows ${rowOffset}+${rows}, columns ${colOffset}+${cols} outside [${n}, ${m}]`);
  }
  checkSizes("rbf_gram", { xNorm: [args.xNorm, n], yNorm: [args.yNorm, m], out: [args.out, rows * cols] });
  const params = {
    M: rows,
    N: cols,
    K: width,
    rowOffset,
    colOffset,
    ldB: m,
    rbf: args.gamma === undefined ? 0 : 1,
    symmetric: args.symmetric ? 1 : 0,
    gamma: args.gamma ?? 0,
  };
  const { x, yT, xNorm, yNorm, out } = args;
  recordGemm(step, kernels.gram, { params, x, yT, xNorm, yNorm, out }, rows, cols, width);
}

function matrixShape(kernel: string, t: TensorLike): [number, number] {
  if (t.shape.length !== 2) throw new Error(`${kernel}: expected a matrix [rows, width], got [${t.shape}]`);
  return [t.shape[0], t.shape[1]];
}
