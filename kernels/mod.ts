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
import { type BinaryFunction, type BinaryKernels, binaryKernels } from "./elementwise_binary.ts";
import { type UnaryFunction, type UnaryKernels, unaryKernels } from "./elementwise_unary.ts";
import type { Gpu } from "./gpu.ts";
import { type MatmulKernel, matmulKernel } from "./matmul.ts";
import { type MovementKernel, movementKernel } from "./movement.ts";
import { type PoolKernels, poolKernels } from "./pool.ts";
import { type ReduceKernels, reduceKernels } from "./reduce.ts";
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
  /** Reductions, softmax along an axis, layer/instance norm, matmul between activations. */
  reduce: ReduceKernels;
  /** The strided copy of every movement op (permute, slice, pad, concat, expand). */
  movement: MovementKernel;
  /** Elementwise group: unary functions and broadcasting binary ones. */
  unary: UnaryKernels;
  binary: BinaryKernels;
}

/**
 * The elementwise functions to compile kernels for (each list: every function unless given). A
 * model's graph uses a few of them; compiling only those saves most of the 148 pipelines.
 */
export interface ElementwiseSelection {
  unary?: readonly UnaryFunction[];
  binary?: readonly BinaryFunction[];
}

/** Compiles (once per device) every kernel of the engine; of the elementwise group, those `selection` names. */
export async function compileEngineKernels(gpu: Gpu, selection: ElementwiseSelection = {}): Promise<EngineKernels> {
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
  const [reduce, movement, unary, binary] = await Promise.all([
    reduceKernels(gpu),
    movementKernel(gpu),
    unaryKernels(gpu, selection.unary),
    binaryKernels(gpu, selection.binary),
  ]);
  return {
    matmul,
    conv2d,
    elementwise,
    channelSum,
    batchNorm,
    batchNormTrain,
    pool,
    softmaxXent,
    reduce,
    movement,
    unary,
    binary,
  };
}
