/**
 * Optimiser steps as a WGSL kernel: SGD with momentum and Adam (with decoupled weight decay).
 * The moment buffers live on the GPU next to the weights; the host only sends hyper-parameters.
 *
 * @example
 * ```ts
 * import { Gpu } from "./gpu.ts";
 * const gpu = await Gpu.create();
 * const kernel = await optimizerKernel(gpu);
 * const weight = gpu.tensor([2], [1, 2]), grad = gpu.tensor([2], [0.5, -1]), first = gpu.zeros([2]);
 * const config: OptimizerConfig = { kind: "sgd", lr: 0.1, momentum: 0.9, weightDecay: 0 };
 * await gpu.run((step) => recordOptimizerStep(step, kernel, { weight, grad, first, t: 1, config }));
 * console.log(await gpu.read(weight)); // [0.95, 2.1]: the first step has no momentum yet
 * ```
 */
import tgpu from "typegpu";
import * as d from "typegpu/data";
import { elementGrid, type Gpu, type Step } from "./gpu.ts";
import { checkSizes, type TensorLike } from "./tensor.ts";
import { defineKernel, type Kernel, readWgsl } from "./kernel.ts";

const OptimizerParams = d.struct({
  count: d.u32,
  op: d.u32,
  lr: d.f32,
  momentum: d.f32,
  beta1: d.f32,
  beta2: d.f32,
  eps: d.f32,
  decay: d.f32,
  correction1: d.f32,
  correction2: d.f32,
}).$name("OptimizerParams");

const layout = tgpu.bindGroupLayout({
  params: { uniform: OptimizerParams },
  grad: { storage: d.arrayOf(d.f32), access: "readonly" },
  weight: { storage: d.arrayOf(d.f32), access: "mutable" },
  first: { storage: d.arrayOf(d.f32), access: "mutable" },
  second: { storage: d.arrayOf(d.f32), access: "mutable" },
});

export const optimizerSpec = defineKernel("optimizer", layout, readWgsl(import.meta.url, "optimizer.wgsl"));
export type OptimizerKernel = Kernel<typeof layout.entries>;

/** Compiles the optimiser kernel (cached). */
export function optimizerKernel(gpu: Gpu): Promise<OptimizerKernel> {
  return gpu.kernel(optimizerSpec);
}

export type OptimizerConfig =
  | { kind: "sgd"; lr: number; momentum: number; weightDecay: number }
  | { kind: "adam"; lr: number; beta1: number; beta2: number; eps: number; weightDecay: number };

export interface OptimizerStepArgs {
  weight: TensorLike;
  grad: TensorLike;
  /** Momentum (SGD) or first moment (Adam), same size as weight, zero at the start. */
  first: TensorLike;
  /** Second moment (Adam only), same size as weight, zero at the start. */
  second?: TensorLike;
  /** Step number, from 1 (Adam's bias correction). */
  t: number;
  config: OptimizerConfig;
}

/** Records one update of `weight` in place. */
export function recordOptimizerStep(step: Step, kernel: OptimizerKernel, args: OptimizerStepArgs): void {
  const { weight, grad, first, second, config, t } = args;
  checkSizes("optimizer", { grad: [grad, weight.size], first: [first, weight.size] });
  if (config.kind === "adam" && (!second || second.size !== weight.size)) {
    throw new Error("optimizer: Adam needs a second-moment tensor the size of the weight");
  }
  const adam = config.kind === "adam" ? config : null;
  step.dispatch(kernel, {
    params: {
      count: weight.size,
      op: adam ? 1 : 0,
      lr: config.lr,
      momentum: config.kind === "sgd" ? config.momentum : 0,
      beta1: adam?.beta1 ?? 0,
      beta2: adam?.beta2 ?? 0,
      eps: adam?.eps ?? 0,
      decay: config.weightDecay,
      correction1: adam ? 1 - adam.beta1 ** t : 1,
      correction2: adam ? 1 - adam.beta2 ** t : 1,
    },
    grad,
    weight,
    first,
    second: second ?? step.placeholder,
  }, elementGrid(weight.size));
}
