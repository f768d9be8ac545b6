/**
 * The reduce group's kernels, compiled together: reductions along axes, softmax along an axis,
 * layer and instance normalisation, and matmul between two activations.
 *
 * @example
 * ```ts
 * import { Gpu } from "./gpu.ts";
 * const gpu = await Gpu.create();
 * const kernels = await reduceKernels(gpu);
 * console.log(Object.keys(kernels)); // ["axes", "softmax", "layerNorm", "matmul"]
 * ```
 */
import type { Gpu } from "./gpu.ts";
import { type LayerNormKernels, layerNormKernels } from "./reduce_layer_norm.ts";
import { type BatchedMatmulKernel, batchedMatmulKernel } from "./reduce_matmul.ts";
import { type ReduceAxesKernels, reduceAxesKernels } from "./reduce_axes.ts";
import { type SoftmaxKernels, softmaxKernels } from "./reduce_softmax.ts";

/** Every kernel of the reduce group. */
export interface ReduceKernels {
  axes: ReduceAxesKernels;
  softmax: SoftmaxKernels;
  layerNorm: LayerNormKernels;
  matmul: BatchedMatmulKernel;
}

/** Compiles (once per device) the reduce group's kernels. */
export async function reduceKernels(gpu: Gpu): Promise<ReduceKernels> {
  const [axes, softmax, layerNorm, matmul] = await Promise.all([
    reduceAxesKernels(gpu),
    softmaxKernels(gpu),
    layerNormKernels(gpu),
    batchedMatmulKernel(gpu),
  ]);
  return { axes, softmax, layerNorm, matmul };
}
