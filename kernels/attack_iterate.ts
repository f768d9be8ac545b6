/**
 * Kernels of the iterative attacks beyond the plain sign step (attack_step.ts): the APGD step with
 * momentum and a per-image step size (L-infinity, and L2 with its per-image norms), a masked copy of whole images (keeping the best iterate,
 * restarting from it), and the DLR loss with its logit gradient (Croce & Hein 2020).
 *
 * @example
 * ```ts
 * import { Gpu } from "./gpu.ts";
 * const gpu = await Gpu.create();
 * const kernels = await attackIterateKernels(gpu);
 * const logits = gpu.tensor([1, 3], [3, 1, 0]);
 * const labels = gpu.tensor([1], [0], "u32");
 * const loss = gpu.tensor([1]), dlogits = gpu.tensor([1, 3]);
 * await gpu.run((step) => recordDlr(step, kernels.dlr, { logits, labels, loss, dlogits }));
 * console.log(await gpu.read(loss)); // [-0.666...]: -(3 - 1) / (3 - 0)
 * ```
 */
import tgpu from "typegpu";
import * as d from "typegpu/data";
import { batchSizes } from "./attack_step.ts";
import { elementGrid, type Gpu, grid1d, type Step } from "./gpu.ts";
import { defineKernel, type Kernel, readWgsl } from "./kernel.ts";
import { checkSizes, checkU32, type TensorLike } from "./tensor.ts";

const f32s = (access: "readonly" | "mutable") => ({ storage: d.arrayOf(d.f32), access }) as const;
const u32s = { storage: d.arrayOf(d.u32), access: "readonly" } as const;

const momentumLayout = tgpu.bindGroupLayout({
  params: {
    uniform: d.struct({ count: d.u32, perImage: d.u32, alpha: d.f32, direction: d.f32, lo: d.f32, hi: d.f32 })
      .$name("AttackMomentumParams"),
  },
  grad: f32s("readonly"),
  origin: f32s("readonly"),
  eps: f32s("readonly"),
  eta: f32s("readonly"),
  xPrev: f32s("mutable"),
  x: f32s("mutable"),
});

const selectLayout = tgpu.bindGroupLayout({
  params: { uniform: d.struct({ count: d.u32, perImage: d.u32 }).$name("AttackSelectParams") },
  mask: u32s,
  src: f32s("readonly"),
  dst: f32s("mutable"),
});

const dlrLayout = tgpu.bindGroupLayout({
  params: { uniform: d.struct({ B: d.u32, C: d.u32, targeted: d.u32 }).$name("DlrParams") },
  logits: f32s("readonly"),
  labels: u32s,
  targets: u32s,
  loss: f32s("mutable"),
  dlogits: f32s("mutable"),
});

export const attackMomentumSpec = defineKernel(
  "attack_momentum",
  momentumLayout,
  readWgsl(import.meta.url, "attack_momentum.wgsl"),
);
export const attackL2StepSpec = defineKernel(
  "attack_l2_step",
  momentumLayout,
  readWgsl(import.meta.url, "attack_l2_step.wgsl") + readWgsl(import.meta.url, "workgroup_reduce.wgsl"),
);
export const attackSelectSpec = defineKernel(
  "attack_select",
  selectLayout,
  readWgsl(import.meta.url, "attack_select.wgsl"),
);
export const dlrSpec = defineKernel("dlr", dlrLayout, readWgsl(import.meta.url, "dlr.wgsl"));

/** The four compiled kernels. */
export interface AttackIterateKernels {
  momentum: Kernel<typeof momentumLayout.entries>;
  /** The L2 step (attack_l2_step.wgsl): the same bindings as `momentum`. */
  l2: Kernel<typeof momentumLayout.entries>;
  select: Kernel<typeof selectLayout.entries>;
  dlr: Kernel<typeof dlrLayout.entries>;
}

/** Compiles the kernels on a device (cached). */
export async function attackIterateKernels(gpu: Gpu): Promise<AttackIterateKernels> {
  const [momentum, l2, select, dlr] = await Promise.all([
    gpu.kernel(attackMomentumSpec),
    gpu.kernel(attackL2StepSpec),
    gpu.kernel(attackSelectSpec),
    gpu.kernel(dlrSpec),
  ]);
  return { momentum, l2, select, dlr };
}

export interface MomentumStepArgs {
  /** [B, ...] the current iterate, replaced by the next. */
  x: TensorLike;
  /** [B, ...] the previous iterate, replaced by the current. */
  xPrev: TensorLike;
  /** [B, ...] the loss gradient at x. */
  grad: TensorLike;
  /** [B, ...] the clean images the ball is centred on. */
  origin: TensorLike;
  /** [B] each image's radius. */
  eps: TensorLike;
  /** [B] each image's step size. */
  eta: TensorLike;
  /** Weight of the new step; 1 - alpha goes to the last move (1: no momentum). */
  alpha: number;
  /** +1 ascends the loss, -1 descends it. */
  direction: 1 | -1;
  /** The valid input range [lo, hi]. */
  range: readonly [number, number];
}

/** Records one L-infinity APGD step (see attack_momentum.wgsl). */
export function recordMomentumStep(step: Step, kernel: AttackIterateKernels["momentum"], args: MomentumStepArgs): void {
  const { bindings, batch } = momentumBindings("attack_momentum", args);
  step.dispatch(kernel, bindings, elementGrid(batch * bindings.params.perImage));
}

/**
 * Records one L2 step (see attack_l2_step.wgsl): APGD's with momentum, PGD's and FGM's with alpha 1
 * (FGM from x = origin with eta = eps), a random start along noise.
 */
export function recordL2Step(step: Step, kernel: AttackIterateKernels["l2"], args: MomentumStepArgs): void {
  const { bindings, batch } = momentumBindings("attack_l2_step", args);
  step.dispatch(kernel, bindings, grid1d(batch));
}

/** The checked bindings of a momentum-layout step (count: the elements of the batch). */
function momentumBindings(name: string, args: MomentumStepArgs) {
  const { x, xPrev, grad, origin, eps, eta, alpha, direction, range } = args;
  const { batch, perImage } = batchSizes(name, x, { eps, eta });
  checkSizes(name, { xPrev: [xPrev, x.shape], grad: [grad, x.shape], origin: [origin, x.shape] });
  const params = { count: x.size, perImage, alpha, direction, lo: range[0], hi: range[1] };
  return { bindings: { params, grad, origin, eps, eta, xPrev, x }, batch };
}

/** Records dst = src for the images whose u32 mask [B] is non-zero. */
export function recordSelect(
  step: Step,
  kernel: AttackIterateKernels["select"],
  args: { mask: TensorLike; src: TensorLike; dst: TensorLike },
): void {
  const { mask, src, dst } = args;
  const per = batchSizes("attack_select", dst, { mask }).perImage;
  checkU32("attack_select", "mask", mask);
  checkSizes("attack_select", { src: [src, dst.shape] });
  step.dispatch(kernel, { params: { count: dst.size, perImage: per }, mask, src, dst }, elementGrid(dst.size));
}

export interface DlrArgs {
  /** [B, C] */
  logits: TensorLike;
  /** u32 [B] the true classes. */
  labels: TensorLike;
  /** u32 [B] target classes: the targeted DLR (default: untargeted). */
  targets?: TensorLike;
  /** [B] overwritten with the loss (to be maximised). */
  loss: TensorLike;
  /** [B, C] overwritten with the gradient of each row's loss w.r.t. its logits. */
  dlogits: TensorLike;
}

/** Records the DLR loss and its logit gradient (see dlr.wgsl). */
export function recordDlr(step: Step, kernel: AttackIterateKernels["dlr"], args: DlrArgs): void {
  const { logits, labels, targets, loss, dlogits } = args;
  if (logits.shape.length !== 2) throw new Error(`dlr: logits must be [B, C], got [${logits.shape}]`);
  const [B, C] = logits.shape;
  const needed = targets ? 4 : 3;
  if (C < needed) {
    throw new Error(`dlr: the ${targets ? "targeted " : ""}DLR loss needs >= ${needed} classes, got ${C}`);
  }
  checkSizes("dlr", { labels: [labels, B], loss: [loss, B], dlogits: [dlogits, logits.shape] });
  checkU32("dlr", "labels", labels);
  if (targets) {
    checkSizes("dlr", { targets: [targets, B] });
    checkU32("dlr", "targets", targets);
  }
  const params = { B, C, targeted: targets ? 1 : 0 };
  step.dispatch(kernel, { params, logits, labels, targets: targets ?? labels, loss, dlogits }, elementGrid(B));
}
