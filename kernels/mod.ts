/**
 * The kernels door: every WGSL kernel of the engine, compiled together for one device.
 *
 * @example
 * ```ts
 * const gpu = await Gpu.create();
 * const kernels = await compileEngineKernels(gpu);
 * ```
 */
import { type BatchNormKernels, batchNormKernels } from "./batch_norm.ts";
import { type BatchNormTrainKernels, batchNormTrainKernels } from "./batch_norm_train.ts";
import { type ChannelSumKernel, channelSumKernel } from "./channel_sum.ts";
import { type Conv2dKernels, conv2dKernels } from "./conv2d.ts";
import { type ElementwiseKernel, elementwiseKernel } from "./elementwise.ts";
import { type BinaryKernels, binaryKernels } from "./elementwise_binary.ts";
import { type UnaryKernels, unaryKernels } from "./elementwise_unary.ts";
import type { Gpu } from "./gpu.ts";
import { type MatmulKernel, matmulKernel } from "./matmul.ts";
import { type PoolKernels, poolKernels } from "./pool.ts";
import { type SoftmaxXentKernel, softmaxXentKernel } from "./softmax_xent.ts";

export { type AdapterReport, Gpu, Step } from "./gpu.ts";
export { DeviceLostError, GpuError, NoAdapterError } from "./errors.ts";
export { Tensor, type TensorLike } from "./tensor.ts";

/** Every compiled kernel the executor records. */
export interface EngineKernels {
  matmul: MatmulKernel;
  conv2d: Conv2dKernels;
  elementwise: ElementwiseKernel;
  channelSum: ChannelSumKernel;
  batchNorm: BatchNormKernels;
  batchNormTrain: BatchNormTrainKernels;
  pool: PoolKernels;
  softmaxXent: SoftmaxXentKernel;
  /** Elementwise group: unary functions and broadcasting binary ones. */
  unary: UnaryKernels;
  binary: BinaryKernels;
}

/** Compiles (once per device) every kernel of the engine. */
export async function compileEngineKernels(gpu: Gpu): Promise<EngineKernels> {
  const [matmul, conv2d, elementwise, channelSum, batchNorm, batchNormTrain, pool, softmaxXent] = await Promise.all([
    matmulKernel(gpu),
    conv2dKernels(gpu),
    elementwiseKernel(gpu),
    channelSumKernel(gpu),
    batchNormKernels(gpu),
    batchNormTrainKernels(gpu),
    poolKernels(gpu),
    softmaxXentKernel(gpu),
  ]);
  const [unary, binary] = await Promise.all([unaryKernels(gpu), binaryKernels(gpu)]);
  return { matmul, conv2d, elementwise, channelSum, batchNorm, batchNormTrain, pool, softmaxXent, unary, binary };
}
