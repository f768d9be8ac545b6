/**
 * Per-channel sums of an NCHW tensor (or [B, C]) over the batch and spatial dims, optionally of
 * (a - center[c]) * b: bias gradients, and batch norm's d beta and d gamma.
 *
 * @example
 * ```ts
 * import { Gpu } from "./gpu.ts";
 * const gpu = await Gpu.create();
 * const kernel = await channelSumKernel(gpu);
 * const dy = gpu.tensor([2, 3], [1, 2, 3, 4, 5, 6]); // dense layer output gradient [B, C]
 * const dbias = gpu.tensor([3]);
 * await gpu.run((step) => recordChannelSum(step, kernel, { a: dy, out: dbias }));
 * console.log(await gpu.read(dbias)); // [5, 7, 9]
 * ```
 */
import tgpu from "typegpu";
import * as d from "typegpu/data";
import { elementGrid, type Gpu, type Step } from "./gpu.ts";
import { defineKernel, type Kernel, readWgsl } from "./kernel.ts";
import { checkSizes, type TensorLike } from "./tensor.ts";

const ChannelSumParams = d.struct({
  N: d.u32,
  C: d.u32,
  HW: d.u32,
  hasB: d.u32,
  hasCenter: d.u32,
}).$name("ChannelSumParams");

const input = { storage: d.arrayOf(d.f32), access: "readonly" } as const;

const layout = tgpu.bindGroupLayout({
  params: { uniform: ChannelSumParams },
  a: input,
  b: input,
  center: input,
  out: { storage: d.arrayOf(d.f32), access: "mutable" },
});

export const channelSumSpec = defineKernel(
  "channel_sum",
  layout,
  readWgsl(import.meta.url, "channel_sum.wgsl") + readWgsl(import.meta.url, "workgroup_reduce.wgsl"),
);

export type ChannelSumKernel = Kernel<typeof layout.entries>;

/** Compiles the channel-sum kernel on a device (cached). */
export function channelSumKernel(gpu: Gpu): Promise<ChannelSumKernel> {
  return gpu.kernel(channelSumSpec);
}

export interface ChannelSumArgs {
  /** [N, C, ...spatial]: at least two dims; the channel is the second. */
  a: TensorLike;
  /** Same shape as `a`; when given, the sum is of (a - center) * b. */
  b?: TensorLike;
  /** [C]; subtracted from `a` before the product. */
  center?: TensorLike;
  /** [C], overwritten. */
  out: TensorLike;
}

/** Splits a shape [N, C, ...spatial] into batch, channels and spatial size. */
export function channelDims(shape: readonly number[]): { N: number; C: number; HW: number } {
  if (shape.length < 2) throw new Error(`per-channel op needs a tensor [N, C, ...], got [${shape}]`);
  return { N: shape[0], C: shape[1], HW: shape.slice(2).reduce((x, y) => x * y, 1) };
}

/** Records out[c] = sum over n and spatial positions of (a - center[c]) * b, or of a alone. */
export function recordChannelSum(step: Step, kernel: ChannelSumKernel, args: ChannelSumArgs): void {
  const { N, C, HW } = channelDims(args.a.shape);
  checkSizes("channel_sum", {
    out: [args.out, C],
    ...(args.b ? { b: [args.b, args.a.size] } : {}),
    ...(args.center ? { center: [args.center, C] } : {}),
  });
  step.dispatch(kernel, {
    params: { N, C, HW, hasB: args.b ? 1 : 0, hasCenter: args.center ? 1 : 0 },
    a: args.a,
    b: args.b ?? step.placeholder,
    center: args.center ?? step.placeholder,
    out: args.out,
  }, elementGrid(C, 1));
}
