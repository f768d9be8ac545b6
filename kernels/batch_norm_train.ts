/**
 * Batch norm in training mode: batch statistics (with the running-statistics update) and the
 * input gradient through those statistics. The normalisation itself and the parameter gradients
 * are batch_norm.ts's kernels, fed the batch statistics.
 */
import tgpu from "typegpu";
import * as d from "typegpu/data";
import { channelDims } from "./channel_sum.ts";
import { elementGrid, type Gpu, grid1d, type Step } from "./gpu.ts";
import { checkSizes, type TensorLike } from "./tensor.ts";
import { defineKernel, type Kernel, readWgsl } from "./kernel.ts";

const Params = d.struct({ N: d.u32, C: d.u32, HW: d.u32, eps: d.f32, momentum: d.f32 }).$name("BatchNormTrainParams");
const readonly = { storage: d.arrayOf(d.f32), access: "readonly" } as const;
const mutable = { storage: d.arrayOf(d.f32), access: "mutable" } as const;

const statsLayout = tgpu.bindGroupLayout({
  params: { uniform: Params },
  x: readonly,
  mean: mutable,
  variance: mutable,
  runningMean: mutable,
  runningVariance: mutable,
});

const backwardLayout = tgpu.bindGroupLayout({
  params: { uniform: Params },
  x: readonly,
  dy: readonly,
  mean: readonly,
  variance: readonly,
  gamma: readonly,
  dbeta: readonly,
  dgamma: readonly,
  dx: mutable,
});

export const batchNormStatsSpec = defineKernel(
  "batch_norm_stats",
  statsLayout,
  readWgsl(import.meta.url, "batch_norm_stats.wgsl"),
);
export const batchNormTrainBackwardSpec = defineKernel(
  "batch_norm_train_backward",
  backwardLayout,
  readWgsl(import.meta.url, "batch_norm_train_backward.wgsl"),
);

export interface BatchNormTrainKernels {
  stats: Kernel<typeof statsLayout.entries>;
  backward: Kernel<typeof backwardLayout.entries>;
}

/** Compiles the training-mode batch-norm kernels (cached). */
export async function batchNormTrainKernels(gpu: Gpu): Promise<BatchNormTrainKernels> {
  const [stats, backward] = await Promise.all([gpu.kernel(batchNormStatsSpec), gpu.kernel(batchNormTrainBackwardSpec)]);
  return { stats, backward };
}

/** Default momentum of the running statistics (PyTorch's). */
export const BATCH_NORM_MOMENTUM = 0.1;

export interface BatchStatsArgs {
  /** [N, C, ...spatial] */
  x: TensorLike;
  /** [C] each, overwritten with the batch mean and biased variance. */
  mean: TensorLike;
  variance: TensorLike;
  /** [C] each, updated in place. */
  runningMean: TensorLike;
  runningVariance: TensorLike;
  momentum?: number;
}

/** Records the batch statistics and the running-statistics update. */
export function recordBatchStats(step: Step, kernels: BatchNormTrainKernels, args: BatchStatsArgs): void {
  const { N, C, HW } = channelDims(args.x.shape);
  const { mean, variance, runningMean, runningVariance } = args;
  checkSizes("batch_norm_stats", {
    mean: [mean, C],
    variance: [variance, C],
    runningMean: [runningMean, C],
    runningVariance: [runningVariance, C],
  });
  step.dispatch(kernels.stats, {
    params: { N, C, HW, eps: 0, momentum: args.momentum ?? BATCH_NORM_MOMENTUM },
    x: args.x,
    mean,
    variance,
    runningMean,
    runningVariance,
  }, grid1d(C));
}

export interface BatchNormTrainBackwardArgs {
  x: TensorLike;
  dy: TensorLike;
  /** The batch statistics the forward used. */
  mean: TensorLike;
  variance: TensorLike;
  gamma: TensorLike;
  eps: number;
  /** sum(dy) and sum(dy * xhat) per channel. */
  dbeta: TensorLike;
  dgamma: TensorLike;
  dx: TensorLike;
}

/** Records dx of training-mode batch norm. */
export function recordBatchNormTrainBackward(
  step: Step,
  kernels: BatchNormTrainKernels,
  args: BatchNormTrainBackwardArgs,
): void {
  const { N, C, HW } = channelDims(args.x.shape);
  checkSizes("batch_norm_train_backward", {
    dy: [args.dy, args.x.shape],
    dx: [args.dx, args.x.shape],
    dbeta: [args.dbeta, C],
    dgamma: [args.dgamma, C],
  });
  const { x, dy, mean, variance, gamma, dbeta, dgamma, dx } = args;
  step.dispatch(kernels.backward, {
    params: { N, C, HW, eps: args.eps, momentum: 0 },
    x,
    dy,
    mean,
    variance,
    gamma,
    dbeta,
    dgamma,
    dx,
  }, elementGrid(x.size));
}
