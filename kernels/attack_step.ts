/**
 * The attack step kernel: the L-infinity step of FGSM and of the random starts (sign of the
 * gradient, projection onto the epsilon ball around the original, clip to the valid range, fused
 * in one pass). Each image of a batch has its own epsilon.
 *
 * @example
 * ```ts
 * import { Gpu } from "./gpu.ts";
 * const gpu = await Gpu.create();
 * const kernels = await attackKernels(gpu);
 * const origin = gpu.tensor([1, 1, 1, 2], [0.5, 0.98]);
 * const x = gpu.tensor([1, 1, 1, 2], [0.5, 0.98]);
 * const grad = gpu.tensor([1, 1, 1, 2], [-3, 2]);
 * const eps = gpu.tensor([1], [0.1]);
 * await gpu.run((step) =>
 *   recordAttackStep(step, kernels.step, { x, origin, grad, eps, scale: 1, range: [0, 1] })
 * );
 * console.log(await gpu.read(x)); // [0.4, 1]: a step of 0.1 against the gradient's sign, clipped at 1
 * ```
 */
import tgpu from "typegpu";
import * as d from "typegpu/data";
import { elementGrid, type Gpu, type Step } from "./gpu.ts";
import { defineKernel, type Kernel, readWgsl } from "./kernel.ts";
import { checkSizes, type TensorLike } from "./tensor.ts";

const AttackStepParams = d.struct({
  count: d.u32,
  perImage: d.u32,
  useSign: d.u32,
  scale: d.f32,
  lo: d.f32,
  hi: d.f32,
}).$name("AttackStepParams");

const stepLayout = tgpu.bindGroupLayout({
  params: { uniform: AttackStepParams },
  grad: { storage: d.arrayOf(d.f32), access: "readonly" },
  origin: { storage: d.arrayOf(d.f32), access: "readonly" },
  eps: { storage: d.arrayOf(d.f32), access: "readonly" },
  x: { storage: d.arrayOf(d.f32), access: "mutable" },
});

export const attackStepSpec = defineKernel("attack_step", stepLayout, readWgsl(import.meta.url, "attack_step.wgsl"));

/** The compiled attack kernel. */
export interface AttackKernels {
  step: Kernel<typeof stepLayout.entries>;
}

/** Compiles the attack kernel on a device (cached). */
export async function attackKernels(gpu: Gpu): Promise<AttackKernels> {
  return { step: await gpu.kernel(attackStepSpec) };
}

/** [B, ...] images and their per-image values: checks the batch axis and returns B and the image size. */
export function batchSizes(kernel: string, images: TensorLike, perImageTensors: Record<string, TensorLike>) {
  const batch = images.shape[0];
  const perImage = images.size / batch;
  checkSizes(kernel, Object.fromEntries(Object.entries(perImageTensors).map(([k, t]) => [k, [t, batch]])));
  return { batch, perImage };
}

export interface AttackStepArgs {
  /** [B, ...] current images, updated in place. */
  x: TensorLike;
  /** [B, ...] the clean images the ball is centred on (another buffer than x). */
  origin: TensorLike;
  /** [B, ...] the loss gradient at x, or noise in [-1, 1] with `useSign: false` (random start). */
  grad: TensorLike;
  /** [B] each image's radius. */
  eps: TensorLike;
  /** Step length as a multiple of eps; negative to descend (targeted attacks). */
  scale: number;
  /** The valid input range [lo, hi]. */
  range: readonly [number, number];
  /** Step along sign(grad) (default) or along grad itself. */
  useSign?: boolean;
}

/** Records x = clip(project(x + scale * eps * sign(grad), origin, eps), lo, hi), per image's eps. */
export function recordAttackStep(step: Step, kernel: AttackKernels["step"], args: AttackStepArgs): void {
  const { x, origin, grad, eps, scale, range } = args;
  const { perImage } = batchSizes("attack_step", x, { eps });
  checkSizes("attack_step", { origin: [origin, x.shape], grad: [grad, x.shape] });
  step.dispatch(kernel, {
    params: { count: x.size, perImage, useSign: args.useSign === false ? 0 : 1, scale, lo: range[0], hi: range[1] },
    grad,
    origin,
    eps,
    x,
  }, elementGrid(x.size));
}
