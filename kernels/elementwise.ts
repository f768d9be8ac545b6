/**
 * Elementwise kernels: clip (ReLU, ReLU6), leaky ReLU and sigmoid forward and backward, residual
 * add and in-place gradient accumulation, all one WGSL entry point chosen by an op code.
 *
 * @example
 * ```ts
 * import { Gpu } from "./gpu.ts";
 * const gpu = await Gpu.create();
 * const kernel = await elementwiseKernel(gpu);
 * const x = gpu.tensor([4], [-2, -0.5, 0.5, 7]);
 * const y = gpu.tensor([4]);
 * await gpu.run((step) => recordClip(step, kernel, { x, y, range: RELU6_RANGE }));
 * console.log(await gpu.read(y)); // [0, 0, 0.5, 6]
 * ```
 */
import tgpu from "typegpu";
import * as d from "typegpu/data";
import { elementGrid, type Gpu, type Step } from "./gpu.ts";
import { defineKernel, type Kernel, type KernelSpec, readWgsl, specializeConstants } from "./kernel.ts";
import { checkSizes, type TensorLike } from "./tensor.ts";

/** Stands in for infinity in uniforms: the largest float32 is about 3.4028e38. */
export const F32_BIG = 3.4e38;

/** Bounds of a clip; `hi` may be Infinity (sent to the GPU as F32_BIG). */
export interface ClipRange {
  lo: number;
  hi: number;
}

/** ReLU = clip(x, 0, +inf). */
export const RELU_RANGE: ClipRange = Object.freeze({ lo: 0, hi: Infinity });
/** ReLU6 = clip(x, 0, 6). */
export const RELU6_RANGE: ClipRange = Object.freeze({ lo: 0, hi: 6 });

const ElementwiseParams = d.struct({
  count: d.u32,
  lo: d.f32,
  hi: d.f32,
  scale: d.f32,
}).$name("ElementwiseParams");

const layout = tgpu.bindGroupLayout({
  params: { uniform: ElementwiseParams },
  a: { storage: d.arrayOf(d.f32), access: "readonly" },
  b: { storage: d.arrayOf(d.f32), access: "readonly" },
  out: { storage: d.arrayOf(d.f32), access: "mutable" },
});

const OP = {
  clip: 0,
  clipBackward: 1,
  add: 2,
  accumulate: 3,
  leakyRelu: 4,
  leakyReluBackward: 5,
  sigmoid: 6,
  sigmoidBackward: 7,
} as const;

type ElementwiseOp = keyof typeof OP;

const code = readWgsl(import.meta.url, "elementwise.wgsl");
const ops = Object.keys(OP) as ElementwiseOp[];

/** One kernel per op, the op folded in as a constant (see specializeConstants). */
export const elementwiseSpecs = Object.fromEntries(
  ops.map((op) => [op, defineKernel(`elementwise_${op}`, layout, specializeConstants(code, { OP: OP[op] }))]),
) as Record<ElementwiseOp, KernelSpec<typeof layout.entries>>;

/** The compiled elementwise kernels, one per op. */
export type ElementwiseKernel = Record<ElementwiseOp, Kernel<typeof layout.entries>>;

/** Compiles the elementwise kernels on a device (cached). */
export async function elementwiseKernel(gpu: Gpu): Promise<ElementwiseKernel> {
  const kernels = await Promise.all(ops.map((op) => gpu.kernel(elementwiseSpecs[op])));
  return Object.fromEntries(ops.map((op, i) => [op, kernels[i]])) as ElementwiseKernel;
}

function dispatchOp(
  step: Step,
  kernel: ElementwiseKernel,
  op: ElementwiseOp,
  tensors: { a?: TensorLike; b?: TensorLike; out: TensorLike },
  values: { range?: ClipRange; scale?: number },
): void {
  const count = tensors.out.size;
  const sizes: Record<string, [TensorLike, number]> = {};
  if (tensors.a) sizes.a = [tensors.a, count];
  if (tensors.b) sizes.b = [tensors.b, count];
  checkSizes(`elementwise ${op}`, sizes);
  const range = values.range ?? RELU_RANGE;
  step.dispatch(kernel[op], {
    params: {
      count,
      lo: Math.max(range.lo, -F32_BIG),
      hi: Math.min(range.hi, F32_BIG),
      scale: values.scale ?? 1,
    },
    a: tensors.a ?? step.placeholder,
    b: tensors.b ?? step.placeholder,
    out: tensors.out,
  }, elementGrid(count));
}

/** Records y = min(max(x, lo), hi). */
export function recordClip(
  step: Step,
  kernel: ElementwiseKernel,
  args: { x: TensorLike; y: TensorLike; range: ClipRange },
): void {
  dispatchOp(step, kernel, "clip", { a: args.x, out: args.y }, args);
}

/** Records dx = dy where lo < x < hi, else 0 (x is the clip's forward input). */
export function recordClipBackward(
  step: Step,
  kernel: ElementwiseKernel,
  args: { x: TensorLike; dy: TensorLike; dx: TensorLike; range: ClipRange },
): void {
  dispatchOp(step, kernel, "clipBackward", { a: args.x, b: args.dy, out: args.dx }, args);
}

/** Records out = a + scale * b (scale defaults to 1). `out` must be a third tensor. */
export function recordAdd(
  step: Step,
  kernel: ElementwiseKernel,
  args: { a: TensorLike; b: TensorLike; out: TensorLike; scale?: number },
): void {
  dispatchOp(step, kernel, "add", { a: args.a, b: args.b, out: args.out }, args);
}

/** Records acc += scale * x in place (scale defaults to 1): gradient accumulation. */
export function recordAccumulate(
  step: Step,
  kernel: ElementwiseKernel,
  args: { acc: TensorLike; x: TensorLike; scale?: number },
): void {
  dispatchOp(step, kernel, "accumulate", { b: args.x, out: args.acc }, args);
}

/** Records y = x where x > 0, else alpha * x (leaky ReLU). */
export function recordLeakyRelu(
  step: Step,
  kernel: ElementwiseKernel,
  args: { x: TensorLike; y: TensorLike; alpha: number },
): void {
  dispatchOp(step, kernel, "leakyRelu", { a: args.x, out: args.y }, { scale: args.alpha });
}

/** Records dx = dy where x > 0, else alpha * dy (x is the leaky ReLU's forward input). */
export function recordLeakyReluBackward(
  step: Step,
  kernel: ElementwiseKernel,
  args: { x: TensorLike; dy: TensorLike; dx: TensorLike; alpha: number },
): void {
  dispatchOp(step, kernel, "leakyReluBackward", { a: args.x, b: args.dy, out: args.dx }, { scale: args.alpha });
}

/** Records y = 1 / (1 + exp(-x)). */
export function recordSigmoid(step: Step, kernel: ElementwiseKernel, args: { x: TensorLike; y: TensorLike }): void {
  dispatchOp(step, kernel, "sigmoid", { a: args.x, out: args.y }, {});
}

/** Records dx = dy * y * (1 - y), from the sigmoid's forward output y. */
export function recordSigmoidBackward(
  step: Step,
  kernel: ElementwiseKernel,
  args: { y: TensorLike; dy: TensorLike; dx: TensorLike },
): void {
  dispatchOp(step, kernel, "sigmoidBackward", { a: args.y, b: args.dy, out: args.dx }, {});
}
