/**
 * Class activation maps from gradients at a layer: Grad-CAM (Selvaraju et al. 2017) and
 * Grad-CAM++ (Chattopadhay et al. 2018), for any graph the executor runs.
 *
 * At a rank-4 layer with activations A (K channels of h x w) and G = dS/dA, the gradient of the
 * target class's logit S (as saliency.ts: the logit, not the softmax):
 * - Grad-CAM weighs channel k by the mean of its gradient, w_k = mean_ij G_k,ij;
 * - Grad-CAM++ by w_k = sum_ij alpha_k,ij relu(G_k,ij), with alpha_k,ij = G^2 / (2 G^2 +
 *   sum_ab A_k,ab G^3) (the paper's eq. 19, its higher derivatives taken for exp(S); alpha = 0
 *   where the denominator is 0);
 * and the map is relu(sum_k w_k A_k), resized bilinearly to the input (upsample.ts) and divided
 * by its maximum (an all-zero map stays zero), so every map is in [0, 1].
 *
 * The forward keeps its tape, backward stops at the layer (executor `at`); only A and G of the
 * layer come back to the host. The default layer is the last spatial one (rank 4, h * w > 1).
 *
 * @example
 * ```ts
 * import { Gpu } from "../../kernels/gpu.ts";
 * import { Executor } from "../model/executor.ts";
 * import { loadModelFolder } from "../model/model_folder.ts";
 * declare const images: Float32Array; // 4 digits, back to back
 * const exec = await Executor.create(await Gpu.create(), await loadModelFolder("fixtures/models/digits"));
 * console.log(lastSpatialLayer(exec)); // "block2.pool"
 * const { maps } = await camMaps(exec, images, 4, { method: "gradcam", memoryBudget: 2 ** 28 });
 * ```
 */
import type { Tensor } from "../../kernels/tensor.ts";
import { InputError } from "../io/input_error.ts";
import { bytesPerImage, type Executor, type Tape } from "../model/executor.ts";
import { oneHot, takeTargets } from "./targets.ts";
import { upsampleBilinear } from "./upsample.ts";

export type CamMethod = "gradcam" | "gradcam++";

export interface CamOptions {
  method: CamMethod;
  /** The layer (node name) explained; default `lastSpatialLayer`. */
  layer?: string;
  /** Class explained per image; the predicted class where omitted. */
  targets?: ArrayLike<number>;
  /** GPU bytes one forward + backward may hold (images per pass follow from it). */
  memoryBudget: number;
}

/** Maps [count, H, W] (input size, each in [0, 1]), the classes explained and their logits. */
export interface CamResult {
  maps: Float32Array;
  targets: Int32Array;
  scores: Float32Array;
  /** The layer explained. */
  layer: string;
  imagesPerPass: number;
}

/** The last node, in graph order, whose value is rank 4 with more than one spatial cell; null when none is. */
export function lastSpatialLayer(exec: Executor): string | null {
  const shapes = exec.shapes(1);
  for (let i = exec.graph.nodes.length - 1; i >= 0; i--) {
    const shape = shapes.get(exec.graph.nodes[i].name)!;
    if (shape.length === 4 && shape[2] * shape[3] > 1) return exec.graph.nodes[i].name;
  }
  return null;
}

/** Why `layer` cannot be explained by a CAM (no such node, or not rank 4), or null when it can. */
export function camLayerProblem(exec: Executor, layer: string): string | null {
  const shape = exec.graph.nodes.some((n) => n.name === layer) ? exec.shapes(1).get(layer) : undefined;
  if (!shape) return `the model has no node "${layer}"`;
  if (shape.length !== 4) {
    return `node "${layer}" is [${shape.join(", ")}], not a rank-4 [batch, channels, height, width] value`;
  }
  return null;
}

/** Grad-CAM or Grad-CAM++ maps of `count` images (NCHW, in the model's input range). */
export async function camMaps(
  exec: Executor,
  images: Float32Array,
  count: number,
  options: CamOptions,
): Promise<CamResult> {
  const layer = options.layer ?? lastSpatialLayer(exec);
  if (layer === null) throw new InputError(`${options.method}: the model has no spatial (rank-4) layer to explain`);
  const problem = camLayerProblem(exec, layer);
  if (problem) throw new InputError(`${options.method}: ${problem}`);
  const [, height, width] = exec.graph.input.shape;
  const per = images.length / count;
  const group = Math.max(1, Math.min(count, Math.floor(options.memoryBudget / bytesPerImage(exec))));
  const result: CamResult = {
    maps: new Float32Array(count * height * width),
    targets: new Int32Array(count),
    scores: new Float32Array(count),
    layer,
    imagesPerPass: group,
  };
  for (let start = 0; start < count; start += group) {
    const n = Math.min(group, count - start);
    const { activations, gradients, shape } = await layerGradients(
      exec,
      images.subarray(start * per, (start + n) * per),
      n,
      start,
      layer,
      options.targets,
      result,
    );
    const [, , h, w] = shape;
    const cams = weightedActivations(activations, gradients, shape, options.method);
    const maps = upsampleBilinear(cams, n, h, w, height, width);
    normalizeEach(maps, n);
    result.maps.set(maps, start * height * width);
  }
  return result;
}

/** A and dS/dA at `layer` for n images, S each image's target logit (filled into `result`). */
async function layerGradients(
  exec: Executor,
  chunk: Float32Array,
  n: number,
  start: number,
  layer: string,
  given: ArrayLike<number> | undefined,
  result: CamResult,
): Promise<{ activations: Float32Array; gradients: Float32Array; shape: number[] }> {
  const gpu = exec.gpu;
  const classes = exec.outputShape(1)[1];
  using x = gpu.tensor([n, ...exec.graph.input.shape], chunk);
  let tape!: Tape;
  await gpu.run((step) => (tape = exec.forwardWithTape(step, x)));
  using _tape = tape;
  const targets = takeTargets(await gpu.read(tape.output), n, start, given, result);
  using dOut = gpu.tensor([n, classes], oneHot(targets, classes, 1));
  let gradient!: Tensor;
  await gpu.run((step) => {
    const grads = exec.backward(step, tape, dOut, { input: false, at: [layer] });
    gradient = grads.at.get(layer)!;
    grads.at.delete(layer); // kept past the step: it is read below
    grads[Symbol.dispose]();
  });
  using _gradient = gradient;
  const activation = tape.values.get(layer)!;
  return { activations: await gpu.read(activation), gradients: await gpu.read(gradient), shape: [...activation.shape] };
}

/**
 * relu(sum_k w_k A_k) per image, [n, h, w], with Grad-CAM's or Grad-CAM++'s channel weights w
 * (see the module comment), computed in float64.
 */
export function weightedActivations(
  activations: ArrayLike<number>,
  gradients: ArrayLike<number>,
  shape: readonly number[],
  method: CamMethod,
): Float32Array {
  const [n, channels, h, w] = shape;
  const plane = h * w;
  const out = new Float32Array(n * plane);
  const sum = new Float64Array(plane);
  for (let b = 0; b < n; b++) {
    sum.fill(0);
    for (let k = 0; k < channels; k++) {
      const from = (b * channels + k) * plane;
      const weight = method === "gradcam"
        ? meanOf(gradients, from, plane)
        : plusPlusWeight(activations, gradients, from, plane);
      for (let q = 0; q < plane; q++) sum[q] += weight * activations[from + q];
    }
    for (let q = 0; q < plane; q++) out[b * plane + q] = Math.max(0, sum[q]);
  }
  return out;
}

function meanOf(values: ArrayLike<number>, from: number, length: number): number {
  let total = 0;
  for (let q = 0; q < length; q++) total += values[from + q];
  return total / length;
}

/** Grad-CAM++'s weight of one channel: sum_ij alpha_ij relu(G_ij). */
function plusPlusWeight(a: ArrayLike<number>, g: ArrayLike<number>, from: number, plane: number): number {
  const activationSum = meanOf(a, from, plane) * plane;
  let weight = 0;
  for (let q = 0; q < plane; q++) {
    const g1 = g[from + q], g2 = g1 * g1;
    const denominator = 2 * g2 + activationSum * g2 * g1;
    if (denominator !== 0 && g1 > 0) weight += (g2 / denominator) * g1;
  }
  return weight;
}

/** Divides each of `count` maps by its maximum, where that is positive. */
function normalizeEach(maps: Float32Array, count: number): void {
  const plane = maps.length / count;
  for (let b = 0; b < count; b++) {
    const map = maps.subarray(b * plane, (b + 1) * plane);
    let top = 0;
    for (const v of map) top = Math.max(top, v);
    if (top > 0) { for (let q = 0; q < plane; q++) map[q] /= top; }
  }
}
