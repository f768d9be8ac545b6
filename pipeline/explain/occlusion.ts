/**
 * Occlusion (Zeiler & Fergus 2014), the model-agnostic reference map: a square patch of a fill
 * value slides over the image, and each pixel's value is the drop in the target class's logit,
 * f(x) - f(x with the patch), averaged over the patches that cover it. Signed: a patch that raises
 * the logit gives a negative drop.
 *
 * Patches start every `stride` pixels along each axis, plus one flush with the far edge when the
 * stride does not land there, so every pixel is covered. The patched images are built on the host
 * and run forward only, in batches sized to the memory budget and the adapter's largest binding.
 *
 * @example
 * ```ts
 * import { Gpu } from "../../kernels/gpu.ts";
 * import { Executor } from "../model/executor.ts";
 * import { loadModelFolder } from "../model/model_folder.ts";
 * declare const images: Float32Array; // 2 digits, back to back
 * const exec = await Executor.create(await Gpu.create(), await loadModelFolder("fixtures/models/digits"));
 * const { maps, imagesPerPass } = await occlusionMaps(exec, images, 2, { memoryBudget: 2 ** 28, fill: 0 });
 * console.log(occlusionGeometry(28, 28), imagesPerPass);
 * ```
 */
import type { Tensor } from "../../kernels/tensor.ts";
import { InputError } from "../io/input_error.ts";
import { sizeOf } from "../io/size_of.ts";
import { bytesPerImage, type Executor } from "../model/executor.ts";
import { takeTargets } from "./targets.ts";

export interface OcclusionOptions {
  /** The patch's side in pixels (default: a seventh of the shorter side, rounded, at least 1). */
  patch?: number;
  /** Pixels between patch starts (default: half the patch, at least 1). */
  stride?: number;
  /** The value every channel of the patch is set to (the low end of the input range, black, in the audit). */
  fill: number;
  /** Class explained per image; the predicted class where omitted. */
  targets?: ArrayLike<number>;
  /** GPU bytes one forward pass may hold (patched images per pass follow from it). */
  memoryBudget: number;
}

/** Where patches go: their side, stride and top-left rows and columns. */
export interface OcclusionGeometry {
  patch: number;
  stride: number;
  rows: number[];
  columns: number[];
}

/** Maps [count, H, W] (logit drops), the classes explained, their clean logits and patched images per pass. */
export interface OcclusionResult {
  maps: Float32Array;
  targets: Int32Array;
  scores: Float32Array;
  geometry: OcclusionGeometry;
  imagesPerPass: number;
}

/** The patch positions over a `height` x `width` image (see the module comment); a patch larger than the image throws. */
export function occlusionGeometry(height: number, width: number, patch?: number, stride?: number): OcclusionGeometry {
  const side = patch ?? Math.max(1, Math.round(Math.min(height, width) / 7));
  const step = stride ?? Math.max(1, Math.floor(side / 2));
  const whole = (v: number) => Number.isInteger(v) && v >= 1;
  if (!whole(side) || side > Math.min(height, width)) {
    throw new InputError(`occlusion: patch ${side} must be a whole number of pixels in 1..${Math.min(height, width)}`);
  }
  if (!whole(step)) throw new InputError(`occlusion: stride ${step} must be a positive whole number of pixels`);
  const starts = (length: number) => {
    const out: number[] = [];
    for (let s = 0; s + side <= length; s += step) out.push(s);
    if (out[out.length - 1] + side < length) out.push(length - side);
    return out;
  };
  return { patch: side, stride: step, rows: starts(height), columns: starts(width) };
}

/** Forward passes' batch: the budget over one image's forward values, and the adapter's largest binding. */
function patchedPerPass(exec: Executor, budget: number): number {
  let widest = 0;
  for (const shape of exec.shapes(1).values()) widest = Math.max(widest, 4 * sizeOf(shape));
  // bytesPerImage counts a tape and backward, 3x the values; a forward holds at most the values once.
  const byBudget = Math.floor((3 * budget) / bytesPerImage(exec));
  return Math.max(1, Math.min(byBudget, Math.floor(exec.gpu.limits.maxStorageBufferBindingSize / widest)));
}

/** Target logits of `count` images (NCHW), `perPass` at a time. */
async function logitsOf(exec: Executor, images: Float32Array, count: number, perPass: number): Promise<Float32Array> {
  const per = images.length / count, classes = exec.outputShape(1)[1];
  const out = new Float32Array(count * classes);
  for (let start = 0; start < count; start += perPass) {
    const n = Math.min(perPass, count - start);
    using x = exec.gpu.tensor([n, ...exec.graph.input.shape], images.subarray(start * per, (start + n) * per));
    let logits!: Tensor;
    await exec.gpu.run((step) => (logits = exec.forward(step, x)));
    using _ = logits;
    out.set(await exec.gpu.read(logits), start * classes);
  }
  return out;
}

/** Occlusion maps of `count` images (NCHW, in the model's input range). */
export async function occlusionMaps(
  exec: Executor,
  images: Float32Array,
  count: number,
  options: OcclusionOptions,
): Promise<OcclusionResult> {
  const [channels, height, width] = exec.graph.input.shape;
  const plane = height * width, per = channels * plane;
  const geometry = occlusionGeometry(height, width, options.patch, options.stride);
  const perPass = patchedPerPass(exec, options.memoryBudget);
  const result: OcclusionResult = {
    maps: new Float32Array(count * plane),
    targets: new Int32Array(count),
    scores: new Float32Array(count),
    geometry,
    imagesPerPass: perPass,
  };
  const targets = takeTargets(await logitsOf(exec, images, count, perPass), count, 0, options.targets, result);
  const positions = geometry.rows.flatMap((row) => geometry.columns.map((column) => ({ row, column })));
  const classes = exec.outputShape(1)[1];
  const total = count * positions.length;
  const drops = new Float32Array(total);
  for (let first = 0; first < total; first += perPass) {
    const n = Math.min(perPass, total - first);
    const patched = new Float32Array(n * per);
    for (let j = 0; j < n; j++) {
      const image = Math.floor((first + j) / positions.length);
      patched.set(images.subarray(image * per, (image + 1) * per), j * per);
      fillPatch(patched.subarray(j * per, (j + 1) * per), positions[(first + j) % positions.length], geometry.patch, {
        channels,
        height,
        width,
        fill: options.fill,
      });
    }
    const logits = await logitsOf(exec, patched, n, n);
    for (let j = 0; j < n; j++) {
      const image = Math.floor((first + j) / positions.length);
      drops[first + j] = result.scores[image] - logits[j * classes + targets[image]];
    }
  }
  for (let b = 0; b < count; b++) {
    const sum = new Float64Array(plane), covered = new Uint32Array(plane);
    positions.forEach(({ row, column }, p) => {
      for (let y = row; y < row + geometry.patch; y++) {
        for (let x = column; x < column + geometry.patch; x++) {
          sum[y * width + x] += drops[b * positions.length + p];
          covered[y * width + x]++;
        }
      }
    });
    for (let q = 0; q < plane; q++) result.maps[b * plane + q] = sum[q] / covered[q];
  }
  return result;
}

/** Sets the patch at (row, column) of one CHW image to `fill` in every channel. */
function fillPatch(
  image: Float32Array,
  at: { row: number; column: number },
  patch: number,
  shape: { channels: number; height: number; width: number; fill: number },
): void {
  const { channels, height, width, fill } = shape;
  for (let c = 0; c < channels; c++) {
    for (let y = at.row; y < at.row + patch; y++) {
      const from = (c * height + y) * width + at.column;
      image.fill(fill, from, from + patch);
    }
  }
}
