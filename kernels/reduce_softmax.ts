/**
 * Softmax and log-softmax along any axis of a tensor of any rank, forward and backward
 * (dx = y * (dy - sum(dy * y)); for log-softmax dx = dy - softmax * sum(dy)).
 *
 * @example
 * ```ts
 * import { Gpu } from "./gpu.ts";
 * const gpu = await Gpu.create();
 * const kernels = await softmaxKernels(gpu);
 * const x = gpu.tensor([1, 2], [0, 0]);
 * const y = gpu.tensor([1, 2]);
 * await gpu.run((step) => recordSoftmax(step, kernels, { x, y, axis: 1 }));
 * console.log(await gpu.read(y)); // [0.5, 0.5]
 * ```
 */
import tgpu from "typegpu";
import * as d from "typegpu/data";
import { elementGrid, type Gpu, type Step } from "./gpu.ts";
import { defineKernel, type Kernel, readWgsl, specializeConstants } from "./kernel.ts";
import { checkSizes, sizeOf, type TensorLike } from "./tensor.ts";

const SoftmaxParams = d.struct({
  rows: d.u32,
  A: d.u32,
  inner: d.u32,
  log: d.u32,
}).$name("SoftmaxParams");

const layout = tgpu.bindGroupLayout({
  params: { uniform: SoftmaxParams },
  x: { storage: d.arrayOf(d.f32), access: "readonly" },
  dy: { storage: d.arrayOf(d.f32), access: "readonly" },
  out: { storage: d.arrayOf(d.f32), access: "mutable" },
});

const code = readWgsl(import.meta.url, "reduce_softmax.wgsl");

/** The forward and backward specs. */
export const softmaxSpecs = {
  forward: defineKernel("softmax_forward", layout, specializeConstants(code, { OP: 0 })),
  backward: defineKernel("softmax_backward", layout, specializeConstants(code, { OP: 1 })),
};

/** The compiled softmax kernels. */
export interface SoftmaxKernels {
  forward: Kernel<typeof layout.entries>;
  backward: Kernel<typeof layout.entries>;
}

/** Compiles the softmax kernels on a device (cached). */
export async function softmaxKernels(gpu: Gpu): Promise<SoftmaxKernels> {
  const [forward, backward] = await Promise.all([gpu.kernel(softmaxSpecs.forward), gpu.kernel(softmaxSpecs.backward)]);
  return { forward, backward };
}

export interface SoftmaxArgs {
  /** Any rank. */
  x: TensorLike;
  /** x's shape, overwritten with the (log-)softmax along `axis`. */
  y: TensorLike;
  /** In [0, rank). */
  axis: number;
  /** Log-softmax instead of softmax. */
  log?: boolean;
}

export interface SoftmaxBackwardArgs {
  /** The forward's output. */
  y: TensorLike;
  dy: TensorLike;
  /** y's shape, overwritten. */
  dx: TensorLike;
  axis: number;
  log?: boolean;
}

/** One dispatch: one invocation per row along `axis` of `x` (the forward's input, or its output y for backward). */
function dispatchSoftmax(
  step: Step,
  kernel: Kernel<typeof layout.entries>,
  tensors: { x: TensorLike; dy: TensorLike; out: TensorLike },
  axis: number,
  log: boolean | undefined,
): void {
  const { x, dy, out } = tensors;
  const name = kernel.spec.name;
  if (!Number.isInteger(axis) || axis < 0 || axis >= x.shape.length) {
    throw new Error(`${name}: axis ${axis} is not an axis of [${x.shape}]`);
  }
  checkSizes(name, { dy: [dy, x.size], out: [out, x.size] });
  const A = x.shape[axis];
  const rows = x.size / A;
  const params = { rows, A, inner: sizeOf(x.shape.slice(axis + 1)), log: log ? 1 : 0 };
  step.dispatch(kernel, { params, x, dy, out }, elementGrid(rows));
}

/** Records y = softmax(x) (or log-softmax) along `axis`, the max subtracted first. */
export function recordSoftmax(step: Step, kernels: SoftmaxKernels, args: SoftmaxArgs): void {
  dispatchSoftmax(step, kernels.forward, { x: args.x, dy: args.x, out: args.y }, args.axis, args.log);
}

/** Records dx from the forward's output y and dy. */
export function recordSoftmaxBackward(step: Step, kernels: SoftmaxKernels, args: SoftmaxBackwardArgs): void {
  dispatchSoftmax(step, kernels.backward, { x: args.y, dy: args.dy, out: args.dx }, args.axis, args.log);
}
