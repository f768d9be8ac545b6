/**
 * Batch normalisation in inference form (stored mean and variance), per channel of an NCHW tensor
 * (or [B, C]): forward, gradient to the input, and the gradients of gamma and beta (per-channel
 * sums by channel_sum).
 *
 * @example
 * ```ts
 * import { Gpu } from "./gpu.ts";
 * const gpu = await Gpu.create();
 * const kernels = await batchNormKernels(gpu);
 * const x = gpu.tensor([1, 2, 1, 1], [3, 5]);
 * const mean = gpu.tensor([2], [1, 1]), variance = gpu.tensor([2], [4, 16]);
 * const gamma = gpu.tensor([2], [1, 2]), beta = gpu.tensor([2], [0, 1]);
 * const y = gpu.tensor([1, 2, 1, 1]);
 * await gpu.run((step) => recordBatchNorm(step, kernels, { x, mean, variance, gamma, beta, eps: 0, y }));
 * console.log(await gpu.read(y)); // [1, 3]
 * ```
 */
import tgpu from "typegpu";
import * as d from "typegpu/data";
import { elementGrid, type Gpu, type Step } from "./gpu.ts";
import { defineKernel, type Kernel, readWgsl, specializeConstants } from "./kernel.ts";
import { channelDims, type ChannelSumKernel, channelSumKernel, recordChannelSum } from "./channel_sum.ts";
import { checkSizes, type TensorLike } from "./tensor.ts";

const BatchNormParams = d.struct({
  count: d.u32,
  C: d.u32,
  HW: d.u32,
  eps: d.f32,
}).$name("BatchNormParams");

const input = { storage: d.arrayOf(d.f32), access: "readonly" } as const;

const layout = tgpu.bindGroupLayout({
  params: { uniform: BatchNormParams },
  x: input,
  mean: input,
  variance: input,
  gamma: input,
  beta: input,
  out: { storage: d.arrayOf(d.f32), access: "mutable" },
});

const code = readWgsl(import.meta.url, "batch_norm.wgsl");
/** One kernel per op of batch_norm.wgsl (forward, input backward, rescale), the op folded in. */
const batchNormSpecs = ["forward", "backward", "rescale"].map((name, op) =>
  defineKernel(`batch_norm_${name}`, layout, specializeConstants(code, { OP: op }))
);

/** The compiled kernels batch norm records: its own (by op), and channel_sum for the parameter gradients. */
export interface BatchNormKernels {
  batchNorm: Kernel<typeof layout.entries>[];
  channelSum: ChannelSumKernel;
}

/** Compiles the batch-norm kernels on a device (cached). */
export async function batchNormKernels(gpu: Gpu): Promise<BatchNormKernels> {
  const [batchNorm, channelSum] = await Promise.all([
    Promise.all(batchNormSpecs.map((spec) => gpu.kernel(spec))),
    channelSumKernel(gpu),
  ]);
  return { batchNorm, channelSum };
}

/** Per-channel statistics and parameters, each [C]. */
export interface BatchNormStats {
  mean: TensorLike;
  variance: TensorLike;
  eps: number;
}

export interface BatchNormArgs extends BatchNormStats {
  /** [N, C, ...spatial] */
  x: TensorLike;
  gamma: TensorLike;
  beta: TensorLike;
  /** Same shape as x, overwritten. */
  y: TensorLike;
}

export interface BatchNormBackwardArgs {
  dy: TensorLike;
  variance: TensorLike;
  gamma: TensorLike;
  eps: number;
  /** Same shape as dy, overwritten. */
  dx: TensorLike;
}

export interface BatchNormParamGradArgs extends BatchNormStats {
  /** The forward's input. */
  x: TensorLike;
  dy: TensorLike;
  /** [C], overwritten: sum of dy * (x - mean) / sqrt(variance + eps). */
  dgamma: TensorLike;
  /** [C], overwritten: sum of dy. */
  dbeta: TensorLike;
}

type Op = 0 | 1 | 2;

function dispatchBatchNorm(
  step: Step,
  kernels: BatchNormKernels,
  op: Op,
  shape: readonly number[],
  eps: number,
  tensors: { x?: TensorLike; mean?: TensorLike; variance: TensorLike; gamma?: TensorLike; beta?: TensorLike },
  out: TensorLike,
): void {
  const { C, HW } = channelDims(shape);
  const perChannel: Record<string, [TensorLike, number]> = {};
  for (const key of ["mean", "variance", "gamma", "beta"] as const) {
    const t = tensors[key];
    if (t) perChannel[key] = [t, C];
  }
  checkSizes("batch_norm", { ...perChannel, ...(tensors.x ? { x: [tensors.x, out.size] } : {}) });
  const p = step.placeholder;
  step.dispatch(kernels.batchNorm[op], {
    params: { count: out.size, C, HW, eps },
    x: tensors.x ?? p,
    mean: tensors.mean ?? p,
    variance: tensors.variance,
    gamma: tensors.gamma ?? p,
    beta: tensors.beta ?? p,
    out,
  }, elementGrid(out.size));
}

/** Records y = (x - mean) / sqrt(variance + eps) * gamma + beta, per channel. */
export function recordBatchNorm(step: Step, kernels: BatchNormKernels, args: BatchNormArgs): void {
  dispatchBatchNorm(step, kernels, 0, args.x.shape, args.eps, args, args.y);
}

/** Records dx = dy * gamma / sqrt(variance + eps), per channel. */
export function recordBatchNormBackward(step: Step, kernels: BatchNormKernels, args: BatchNormBackwardArgs): void {
  const { dy, variance, gamma, eps } = args;
  dispatchBatchNorm(step, kernels, 1, dy.shape, eps, { x: dy, variance, gamma }, args.dx);
}

/**
 * Records d beta = sum of dy and d gamma = sum of dy * (x - mean) / sqrt(variance + eps) per
 * channel: two channel sums, then d gamma scaled in place.
 */
export function recordBatchNormParamGrads(step: Step, kernels: BatchNormKernels, args: BatchNormParamGradArgs): void {
  const { x, dy, mean, variance, eps, dgamma, dbeta } = args;
  checkSizes("batch_norm_param_grads", { dy: [dy, x.shape] });
  recordChannelSum(step, kernels.channelSum, { a: dy, out: dbeta });
  recordChannelSum(step, kernels.channelSum, { a: x, center: mean, b: dy, out: dgamma });
  dispatchBatchNorm(step, kernels, 2, [1, dgamma.size], eps, { variance }, dgamma);
}
