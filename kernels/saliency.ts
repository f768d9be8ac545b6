/**
 * The GPU side of gradient saliency: the inputs a sampled method (Integrated Gradients,
 * SmoothGrad) takes gradients at, the running sum of those gradients over samples, and the
 * per-pixel maps reduced over channels. The model's forward and backward run in between
 * (pipeline/explain/saliency.ts); nothing here knows about models.
 *
 * @example
 * ```ts
 * import { Gpu } from "./gpu.ts";
 * const gpu = await Gpu.create();
 * const kernels = await saliencyKernels(gpu);
 * const g = gpu.tensor([1, 3, 1, 2], [1, -4, 2, 3, -3, 0]); // a gradient, 3 channels of 1 x 2
 * const map = gpu.tensor([1, 1, 2]);
 * await gpu.run((step) => recordSaliencyMap(step, kernels, { g, out: map, reduce: "maxAbs" }));
 * console.log(await gpu.read(map)); // [3, 4]
 * ```
 */
import tgpu from "typegpu";
import * as d from "typegpu/data";
import { elementGrid, type Gpu, type Step } from "./gpu.ts";
import { defineKernel, type Kernel, readWgsl } from "./kernel.ts";
import { checkSizes, type TensorLike } from "./tensor.ts";

const readonly = { storage: d.arrayOf(d.f32), access: "readonly" } as const;
const mutable = { storage: d.arrayOf(d.f32), access: "mutable" } as const;

const SamplesParams = d.struct({
  count: d.u32,
  samples: d.u32,
  firstSample: d.u32,
  totalSamples: d.u32,
  mode: d.u32,
  seed: d.u32,
  elementOffset: d.u32,
  sigma: d.f32,
}).$name("SaliencySamplesParams");

const samplesLayout = tgpu.bindGroupLayout({
  params: { uniform: SamplesParams },
  x: readonly,
  base: readonly,
  out: mutable,
});

const SampleSumParams = d.struct({ count: d.u32, samples: d.u32, scale: d.f32 }).$name("SampleSumParams");

const sampleSumLayout = tgpu.bindGroupLayout({
  params: { uniform: SampleSumParams },
  g: readonly,
  acc: mutable,
});

const MapParams = d.struct({
  batch: d.u32,
  channels: d.u32,
  plane: d.u32,
  reduce: d.u32,
  multiply: d.u32,
}).$name("SaliencyMapParams");

const mapLayout = tgpu.bindGroupLayout({
  params: { uniform: MapParams },
  g: readonly,
  x: readonly,
  base: readonly,
  out: mutable,
});

export const saliencySamplesSpec = defineKernel(
  "saliency_samples",
  samplesLayout,
  readWgsl(import.meta.url, "saliency_samples.wgsl"),
);
export const sampleSumSpec = defineKernel("sample_sum", sampleSumLayout, readWgsl(import.meta.url, "sample_sum.wgsl"));
export const saliencyMapSpec = defineKernel("saliency_map", mapLayout, readWgsl(import.meta.url, "saliency_map.wgsl"));

/** The compiled saliency kernels. */
export interface SaliencyKernels {
  samples: Kernel<typeof samplesLayout.entries>;
  sampleSum: Kernel<typeof sampleSumLayout.entries>;
  map: Kernel<typeof mapLayout.entries>;
}

/** Compiles the saliency kernels on a device (cached). */
export async function saliencyKernels(gpu: Gpu): Promise<SaliencyKernels> {
  const [samples, sampleSum, map] = await Promise.all([
    gpu.kernel(saliencySamplesSpec),
    gpu.kernel(sampleSumSpec),
    gpu.kernel(saliencyMapSpec),
  ]);
  return { samples, sampleSum, map };
}

/** Where sampled inputs come from: a straight path from a baseline (IG) or Gaussian noise (SmoothGrad). */
export type SampleMode =
  | { kind: "path"; base: TensorLike }
  | {
    kind: "noise";
    sigma: number;
    seed: number;
    /** Index of x's first element in the whole data set, so each image draws its own noise (default 0). */
    elementOffset?: number;
  };

export interface SamplesArgs {
  /** The batch of inputs, any shape. */
  x: TensorLike;
  /** [samples, ...x.shape] (or any shape of that size), overwritten. */
  out: TensorLike;
  /** This chunk is samples firstSample .. firstSample + samples - 1 of totalSamples. */
  firstSample: number;
  samples: number;
  totalSamples: number;
  mode: SampleMode;
}

/** Records a chunk of sampled inputs: path points alpha = (s + 1/2) / total, or x + sigma N(0, 1). */
export function recordSaliencySamples(step: Step, kernels: SaliencyKernels, args: SamplesArgs): void {
  const { x, out, firstSample, samples, totalSamples, mode } = args;
  if (samples < 1 || firstSample < 0 || firstSample + samples > totalSamples) {
    throw new Error(`saliency_samples: samples ${firstSample}..${firstSample + samples - 1} of ${totalSamples}`);
  }
  checkSizes("saliency_samples", {
    out: [out, samples * x.size],
    ...(mode.kind === "path" ? { base: [mode.base, x.size] } : {}),
  });
  step.dispatch(kernels.samples, {
    params: {
      count: x.size,
      samples,
      firstSample,
      totalSamples,
      mode: mode.kind === "path" ? 0 : 1,
      seed: mode.kind === "noise" ? mode.seed >>> 0 : 0,
      elementOffset: mode.kind === "noise" ? (mode.elementOffset ?? 0) >>> 0 : 0,
      sigma: mode.kind === "noise" ? mode.sigma : 0,
    },
    x,
    base: mode.kind === "path" ? mode.base : step.placeholder,
    out,
  }, elementGrid(samples * x.size));
}

/** Records acc += scale * (sum over the leading `samples` copies of acc's size in g). */
export function recordSampleSum(
  step: Step,
  kernels: SaliencyKernels,
  args: { g: TensorLike; acc: TensorLike; samples: number; scale: number },
): void {
  const { g, acc, samples, scale } = args;
  checkSizes("sample_sum", { g: [g, samples * acc.size] });
  step.dispatch(kernels.sampleSum, { params: { count: acc.size, samples, scale }, g, acc }, elementGrid(acc.size));
}

/** How a map combines a pixel's channels. "sum" keeps the sign (attributions add up). */
export type ChannelReduce = "maxAbs" | "sumAbs" | "sum" | "l2";

const REDUCE: Record<ChannelReduce, number> = { maxAbs: 0, sumAbs: 1, sum: 2, l2: 3 };

export interface SaliencyMapArgs {
  /** [B, C, H, W] gradients (or their mean over samples). */
  g: TensorLike;
  /** [B, 1, H, W] (or [B, H, W]), overwritten. */
  out: TensorLike;
  reduce: ChannelReduce;
  /** When given, attributions are g * (x - base): gradient x input (base 0) and IG. */
  times?: { x: TensorLike; base: TensorLike };
}

/** Records the per-pixel map of a batch of gradients, reduced over channels. */
export function recordSaliencyMap(step: Step, kernels: SaliencyKernels, args: SaliencyMapArgs): void {
  const { g, out, reduce, times } = args;
  if (g.shape.length !== 4) throw new Error(`saliency_map: g must be [B, C, H, W], got [${g.shape}]`);
  const [batch, channels, height, width] = g.shape;
  const plane = height * width;
  checkSizes("saliency_map", {
    out: [out, batch * plane],
    ...(times ? { x: [times.x, g.size], base: [times.base, g.size] } : {}),
  });
  step.dispatch(kernels.map, {
    params: { batch, channels, plane, reduce: REDUCE[reduce], multiply: times ? 1 : 0 },
    g,
    x: times?.x ?? step.placeholder,
    base: times?.base ?? step.placeholder,
    out,
  }, elementGrid(batch * plane));
}
