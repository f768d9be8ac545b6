/**
 * The dense layer (y = x W^T + b, W [out, in]) and its gradients for weights of any size: a weight
 * larger than one storage binding (AlexNet's and VGG's first classifier layers, 151 MB and 411 MB,
 * over llvmpipe's 128 MiB) is bound as blocks of its output rows (`rowBlocks`), each block a
 * matmul of its own. Forward writes each block's output columns into y; backward gathers dy's
 * columns of each block, adds the blocks' input gradients, and writes each block's rows of the
 * weight gradient. A weight that fits is one matmul, as before.
 *
 * @example
 * ```ts
 * import { Gpu } from "./gpu.ts";
 * import { matmulKernel } from "./matmul.ts";
 * import { elementwiseKernel } from "./elementwise.ts";
 * const gpu = await Gpu.create();
 * const kernels = { matmul: await matmulKernel(gpu), elementwise: await elementwiseKernel(gpu) };
 * const x = gpu.tensor([1, 2], [1, 2]), weight = gpu.tensor([1, 2], [3, 4]), y = gpu.tensor([1, 1]);
 * await gpu.run((step) => recordDense(step, kernels, { x, weight, y }));
 * console.log(await gpu.read(y)); // [11]
 * ```
 */
import { type ElementwiseKernel, recordAccumulate } from "./elementwise.ts";
import type { Step } from "./gpu.ts";
import { type MatmulKernel, recordMatmul } from "./matmul.ts";
import { BINDING_OFFSET_ALIGNMENT, rowBlocks, Tensor, type TensorLike, TensorRows } from "./tensor.ts";

/** The kernels a blocked dense layer records. */
export interface DenseKernels {
  matmul: MatmulKernel;
  elementwise: ElementwiseKernel;
}

/** Rows [first, first + count) of a tensor, or the tensor itself when that is all of it. */
function rows(t: TensorLike, first: number, count: number): TensorLike {
  if (first === 0 && count === t.shape[0]) return t;
  if (t instanceof Tensor) return new TensorRows(t, first, count);
  throw new Error(`dense: cannot bind rows of [${t.shape}], a view of another tensor`);
}

/** The blocks of output rows of `weight` [out, in] that each fit one binding, the bias's blocks aligned too. */
function weightBlocks(step: Step, weight: TensorLike): [number, number][] {
  return rowBlocks(weight.shape[0], weight.shape[1], step.bindingLimit, BINDING_OFFSET_ALIGNMENT / 4);
}

/** Copies columns [first, first + count) of `from` [M, N] into `to` [M, count] (or back, `into`). */
function copyColumns(
  step: Step,
  m: number,
  n: number,
  first: number,
  count: number,
  wide: TensorLike,
  narrow: TensorLike,
  into: "narrow" | "wide",
): void {
  for (let r = 0; r < m; r++) {
    if (into === "narrow") step.copyRange(wide, r * n + first, narrow, r * count, count);
    else step.copyRange(narrow, r * count, wide, r * n + first, count);
  }
}

/** Records `whole()` when the weight fits one binding, else `block(first, count)` per block of its rows. */
function byBlocks(
  step: Step,
  weight: TensorLike,
  whole: () => void,
  block: (first: number, count: number) => void,
): void {
  const blocks = weightBlocks(step, weight);
  if (blocks.length === 1) whole();
  else for (const [first, count] of blocks) block(first, count);
}

/** Records y [M, out] = x [M, in] W^T (+ bias [out]). */
export function recordDense(
  step: Step,
  kernels: DenseKernels,
  args: { x: TensorLike; weight: TensorLike; bias?: TensorLike; y: TensorLike },
): void {
  const { x, weight, bias, y } = args;
  const [M, K] = x.shape, N = weight.shape[0];
  byBlocks(step, weight, () => {
    recordMatmul(step, kernels.matmul, { a: x, b: weight, c: y, bias, M, N, K, transB: true });
  }, (first, count) => {
    using part = step.alloc([M, count]);
    const b = rows(weight, first, count);
    const blockBias = bias && rows(bias, first, count);
    recordMatmul(step, kernels.matmul, { a: x, b, c: part, bias: blockBias, M, N: count, K, transB: true });
    copyColumns(step, M, N, first, count, y, part, "wide");
  });
}

/** Records dx [M, in] = dy [M, out] W: the blocks' products summed. */
export function recordDenseBackwardInput(
  step: Step,
  kernels: DenseKernels,
  args: { dy: TensorLike; weight: TensorLike; dx: TensorLike },
): void {
  const { dy, weight, dx } = args;
  const [M, N] = dy.shape, K = weight.shape[1];
  byBlocks(step, weight, () => {
    recordMatmul(step, kernels.matmul, { a: dy, b: weight, c: dx, M, N: K, K: N });
  }, (first, count) => {
    if (first === 0) step.clear(dx);
    using dyPart = step.alloc([M, count]);
    using dxPart = step.alloc([M, K]);
    copyColumns(step, M, N, first, count, dy, dyPart, "narrow");
    recordMatmul(step, kernels.matmul, { a: dyPart, b: rows(weight, first, count), c: dxPart, M, N: K, K: count });
    recordAccumulate(step, kernels.elementwise, { acc: dx, x: dxPart });
  });
}

/** Records dweight [out, in] = dy^T x, each block's rows written in place. */
export function recordDenseBackwardWeight(
  step: Step,
  kernels: DenseKernels,
  args: { dy: TensorLike; x: TensorLike; dweight: TensorLike },
): void {
  const { dy, x, dweight } = args;
  const [M, N] = dy.shape, K = x.shape[1];
  byBlocks(step, dweight, () => {
    recordMatmul(step, kernels.matmul, { a: dy, b: x, c: dweight, M: N, N: K, K: M, transA: true });
  }, (first, count) => {
    using dyPart = step.alloc([M, count]);
    copyColumns(step, M, N, first, count, dy, dyPart, "narrow");
    const c = rows(dweight, first, count);
    recordMatmul(step, kernels.matmul, { a: dyPart, b: x, c, M: count, N: K, K: M, transA: true });
  });
}
