/**
 * Gradient saliency maps, batched on the GPU: vanilla gradient (Simonyan et al. 2014, the paper's),
 * gradient x input, SmoothGrad (Smilkov et al. 2017) and Integrated Gradients (Sundararajan et al.
 * 2017); and, through the same call, Grad-CAM and Grad-CAM++ at a layer (cam.ts) and occlusion
 * (occlusion.ts).
 *
 * The scalar differentiated is the **logit** of the target class (the predicted class unless
 * targets are given), f(x) = logits(x)[target], not its softmax probability or cross-entropy: the
 * logit does not saturate, and IG's completeness, sum of attributions = f(x) - f(baseline), is
 * about this f. Images are in the model's input range; gradients are in image space (the
 * executor's normalisation is part of the model).
 *
 * SmoothGrad and IG take gradients at many inputs per image. Those are produced on the GPU in
 * chunks whose size comes from a memory budget, so at most `budget` bytes of activations exist at
 * once: never (samples x batch) images in one pass.
 *
 * @example
 * ```ts
 * import { Gpu } from "../../kernels/gpu.ts";
 * import { Executor } from "../model/executor.ts";
 * import { loadModelFolder } from "../model/model_folder.ts";
 * declare const images: Float32Array; // 16 images of the model's input shape, back to back
 * const exec = await Executor.create(await Gpu.create(), await loadModelFolder("fixtures/models/digits"));
 * const { maps } = await computeSaliency(exec, images, 16, { method: "integratedGradients", steps: 64 });
 * ```
 */
import type { z } from "zod";
import {
  type ChannelReduce,
  recordSaliencyMap,
  recordSaliencySamples,
  recordSampleSum,
  type SaliencyKernels,
  saliencyKernels,
  type SampleMode,
} from "../../kernels/saliency.ts";
import type { Tensor } from "../../kernels/tensor.ts";
import { bytesPerImage, type Executor } from "../model/executor.ts";
import { InputError } from "../io/input_error.ts";
import { SaliencyMethodSchema } from "../schema/report.ts";
import { camMaps, lastSpatialLayer } from "./cam.ts";
import { occlusionMaps } from "./occlusion.ts";
import { oneHot, takeTargets } from "./targets.ts";

export type SaliencyMethod = z.output<typeof SaliencyMethodSchema>;

/** Every method, in the order reports list them. */
export const SALIENCY_METHODS: readonly SaliencyMethod[] = SaliencyMethodSchema.options;

/** The methods that apply to a model: every one, less Grad-CAM and Grad-CAM++ where no layer is spatial. */
export function saliencyMethodsFor(exec: Executor): SaliencyMethod[] {
  const spatial = lastSpatialLayer(exec) !== null;
  return SALIENCY_METHODS.filter((m) => spatial || (m !== "gradcam" && m !== "gradcam++"));
}

/** Default GPU memory for one forward + backward pass of a chunk: 256 MiB. */
export const DEFAULT_SALIENCY_BUDGET = 256 * 2 ** 20;

export interface SaliencyOptions {
  method: SaliencyMethod;
  /** Class whose logit is differentiated, per image; the predicted class where omitted. */
  targets?: ArrayLike<number>;
  /** How channels combine into one value per pixel (default "maxAbs", max |attribution|). */
  reduce?: ChannelReduce;
  /** SmoothGrad: noisy samples per image (default 25). */
  samples?: number;
  /** SmoothGrad: noise sigma as a fraction of the input range (default 0.15). */
  noise?: number;
  /** SmoothGrad: noise seed (default 0). */
  seed?: number;
  /** IG: Riemann steps along the path (default 64). */
  steps?: number;
  /** IG: "black" (the low end of the input range, the default) or a [C, H, W] image. */
  baseline?: "black" | Float32Array;
  /** The model's valid input range (default [0, 1]): black, and SmoothGrad's noise scale. */
  inputRange?: readonly [number, number];
  /** GPU bytes one pass may hold (default DEFAULT_SALIENCY_BUDGET). */
  memoryBudget?: number;
  /** Grad-CAM and Grad-CAM++: the layer explained (default: the last spatial one, cam.ts). */
  camLayer?: string;
  /** Occlusion: patch side and stride in pixels (defaults in occlusion.ts), fill value (default: black). */
  occlusion?: { patch?: number; stride?: number; fill?: number };
}

export interface SaliencyResult {
  /** [count, H, W] maps, image after image. */
  maps: Float32Array;
  shape: [number, number, number];
  /** The class explained for each image. */
  targets: Int32Array;
  /** f(x): each image's target logit. */
  scores: Float32Array;
  /** IG only: f(baseline) per image, so sum(attributions) can be checked against f(x) - f(baseline). */
  baselineScores?: Float32Array;
  /** Images x samples run per forward + backward pass (the chunk the budget allowed). */
  imagesPerPass: number;
}

/** Maps of `count` images (NCHW in `images`, in the model's input range) by one method. */
export async function computeSaliency(
  exec: Executor,
  images: Float32Array,
  count: number,
  options: SaliencyOptions,
): Promise<SaliencyResult> {
  const [channels, height, width] = exec.graph.input.shape;
  const per = channels * height * width;
  if (images.length !== count * per) {
    throw new InputError(
      `saliency: ${images.length} values are not ${count} images of [${channels}, ${height}, ${width}]`,
    );
  }
  const classes = exec.outputShape(1)[1];
  checkTargets(options.targets, count, classes);
  const regional = await regionSaliency(exec, images, count, options);
  if (regional) return { ...regional, shape: [count, height, width] };
  const plan = planChunks(exec, count, options);
  const kernels = await saliencyKernels(exec.gpu);
  const result: SaliencyResult = {
    maps: new Float32Array(count * height * width),
    shape: [count, height, width],
    targets: new Int32Array(count),
    scores: new Float32Array(count),
    baselineScores: options.method === "integratedGradients" ? new Float32Array(count) : undefined,
    imagesPerPass: plan.imagesPerPass,
  };
  for (let start = 0; start < count; start += plan.group) {
    const n = Math.min(plan.group, count - start);
    const chunk = images.subarray(start * per, (start + n) * per);
    await explainGroup(exec, kernels, chunk, n, start, options, plan, result);
  }
  return result;
}

/** Grad-CAM, Grad-CAM++ and occlusion maps; null for the gradient methods. */
async function regionSaliency(
  exec: Executor,
  images: Float32Array,
  count: number,
  options: SaliencyOptions,
): Promise<Omit<SaliencyResult, "shape"> | null> {
  const { method, targets } = options;
  const memoryBudget = options.memoryBudget ?? DEFAULT_SALIENCY_BUDGET;
  if (method === "gradcam" || method === "gradcam++") {
    return await camMaps(exec, images, count, { method, layer: options.camLayer, targets, memoryBudget });
  }
  if (method !== "occlusion") return null;
  const fill = options.occlusion?.fill ?? (options.inputRange ?? [0, 1])[0];
  return await occlusionMaps(exec, images, count, { ...options.occlusion, fill, targets, memoryBudget });
}

function checkTargets(targets: ArrayLike<number> | undefined, count: number, classes: number): void {
  if (!targets) return;
  if (targets.length !== count) throw new InputError(`saliency: ${targets.length} targets for ${count} images`);
  for (let i = 0; i < count; i++) {
    const t = targets[i];
    if (!Number.isInteger(t) || t < 0 || t >= classes) {
      throw new InputError(`saliency: target ${t} of image ${i} is not a class index in 0..${classes - 1}`);
    }
  }
}

interface ChunkPlan {
  /** Images explained together. */
  group: number;
  /** Samples per pass for the sampled methods. */
  samplesPerPass: number;
  /** Samples (or steps) per image in all. */
  total: number;
  imagesPerPass: number;
}

/** Splits the work so one pass holds at most `memoryBudget` bytes (at least one image). */
function planChunks(exec: Executor, count: number, options: SaliencyOptions): ChunkPlan {
  const budget = options.memoryBudget ?? DEFAULT_SALIENCY_BUDGET;
  const perPass = Math.max(1, Math.floor(budget / bytesPerImage(exec, "input-gradient")));
  const total = sampleCount(options);
  const group = Math.max(1, Math.min(count, perPass));
  const samplesPerPass = Math.max(1, Math.min(total, Math.floor(perPass / group)));
  return { group, samplesPerPass, total, imagesPerPass: group * (total > 0 ? samplesPerPass : 1) };
}

/** Samples per image of a sampled method; 0 for the single-gradient methods. */
function sampleCount(options: SaliencyOptions): number {
  const positive = (name: string, v: number) => {
    if (!Number.isInteger(v) || v < 1) throw new InputError(`saliency: ${name} must be a positive integer, got ${v}`);
    return v;
  };
  if (options.method === "smoothGrad") return positive("samples", options.samples ?? 25);
  if (options.method === "integratedGradients") return positive("steps", options.steps ?? 64);
  return 0;
}

/** The images of one group (start.. of the whole batch), explained into `result`. */
interface Group {
  exec: Executor;
  kernels: SaliencyKernels;
  /** [n, C, H, W] */
  x: Tensor;
  n: number;
  start: number;
  /** [n, H, W], overwritten with the maps. */
  map: Tensor;
  options: SaliencyOptions;
  result: SaliencyResult;
}

async function explainGroup(
  exec: Executor,
  kernels: SaliencyKernels,
  chunk: Float32Array,
  n: number,
  start: number,
  options: SaliencyOptions,
  plan: ChunkPlan,
  result: SaliencyResult,
): Promise<void> {
  const [, height, width] = exec.graph.input.shape;
  using x = exec.gpu.tensor([n, ...exec.graph.input.shape], chunk);
  using map = exec.gpu.tensor([n, height, width]);
  const group: Group = { exec, kernels, x, n, start, map, options, result };
  if (plan.total === 0) await singleGradient(group);
  else await sampledGradients(group, plan);
  result.maps.set(await exec.gpu.read(map), start * height * width);
}

/** Vanilla gradient and gradient x input: the tape of the forward that gives the targets is kept for backward. */
async function singleGradient({ exec, kernels, x, n, start, map, options, result }: Group): Promise<void> {
  const gpu = exec.gpu;
  const classes = exec.outputShape(1)[1];
  let tape!: ReturnType<Executor["forwardWithTape"]>;
  await gpu.run((step) => (tape = exec.forwardWithTape(step, x, { keep: "input-gradient" })));
  using _tape = tape;
  const targets = takeTargets(await gpu.read(tape.output), n, start, options.targets, result);
  using dOut = gpu.tensor([n, classes], oneHot(targets, classes, 1));
  using zeros = options.method === "gradientInput" ? gpu.zeros(x.shape) : null;
  await gpu.run((step) => {
    using grads = exec.backward(step, tape, dOut, { input: true });
    const times = zeros ? { x, base: zeros } : undefined;
    recordSaliencyMap(step, kernels, { g: grads.input!, out: map, reduce: options.reduce ?? "maxAbs", times });
  });
}

/**
 * SmoothGrad and IG: the mean gradient over `plan.total` sampled inputs per image, accumulated
 * chunk by chunk (plan.samplesPerPass copies of the group per forward + backward), then the map.
 */
async function sampledGradients(group: Group, plan: ChunkPlan): Promise<void> {
  const { exec, kernels, x, n, start, map, options, result } = group;
  const gpu = exec.gpu;
  const classes = exec.outputShape(1)[1];
  let logits!: Tensor;
  await gpu.run((step) => (logits = exec.forward(step, x)));
  using _logits = logits;
  const targets = takeTargets(await gpu.read(logits), n, start, options.targets, result);
  using base = baselineTensor(exec, options, n);
  const noise = { sigma: (options.noise ?? 0.15) * rangeWidth(options), seed: options.seed ?? 0 };
  // elementOffset: this group's first value in the whole batch, so each image draws its own noise.
  const mode: SampleMode = base
    ? { kind: "path", base }
    : { kind: "noise", ...noise, elementOffset: start * x.size / n };
  using mean = gpu.zeros(x.shape);
  for (let first = 0; first < plan.total; first += plan.samplesPerPass) {
    const samples = Math.min(plan.samplesPerPass, plan.total - first);
    using dOut = gpu.tensor([samples * n, classes], oneHot(targets, classes, samples));
    await gpu.run((step) => {
      using inputs = gpu.tensor([samples * n, ...x.shape.slice(1)]);
      const range = { firstSample: first, samples, totalSamples: plan.total };
      recordSaliencySamples(step, kernels, { x, out: inputs, ...range, mode });
      using tape = exec.forwardWithTape(step, inputs, { keep: "input-gradient" });
      using grads = exec.backward(step, tape, dOut, { input: true });
      recordSampleSum(step, kernels, { g: grads.input!, acc: mean, samples, scale: 1 / plan.total });
    });
  }
  await gpu.run((step) => {
    const times = base ? { x, base } : undefined;
    recordSaliencyMap(step, kernels, { g: mean, out: map, reduce: options.reduce ?? "maxAbs", times });
  });
  if (base) await scoreBaseline(exec, base, targets, start, result.baselineScores!);
}

function rangeWidth(options: SaliencyOptions): number {
  const [lo, hi] = options.inputRange ?? [0, 1];
  return hi - lo;
}

/** IG's baseline for n images (null for other methods): black or the given image, repeated. */
function baselineTensor(exec: Executor, options: SaliencyOptions, n: number): Tensor | null {
  if (options.method !== "integratedGradients") return null;
  const [c, h, w] = exec.graph.input.shape;
  const per = c * h * w;
  const given = options.baseline ?? "black";
  if (given !== "black" && given.length !== per) {
    throw new InputError(`saliency: baseline has ${given.length} values, the model's input [${c}, ${h}, ${w}] ${per}`);
  }
  const data = new Float32Array(n * per);
  if (given === "black") data.fill((options.inputRange ?? [0, 1])[0]);
  else for (let b = 0; b < n; b++) data.set(given, b * per);
  return exec.gpu.tensor([n, c, h, w], data);
}

async function scoreBaseline(
  exec: Executor,
  base: Tensor,
  targets: Int32Array,
  start: number,
  into: Float32Array,
): Promise<void> {
  let logits!: Tensor;
  await exec.gpu.run((step) => (logits = exec.forward(step, base)));
  using _ = logits;
  const values = await exec.gpu.read(logits);
  const classes = values.length / targets.length;
  targets.forEach((t, b) => (into[start + b] = values[b * classes + t]));
}
