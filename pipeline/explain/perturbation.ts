/**
 * The host-side pieces of the faithfulness metrics (faithfulness.ts): the order in which a map
 * ranks an image's pixels, images with the first pixels of that order substituted, the curve of a
 * score over those substitutions and its area, a Gaussian-blurred substrate, the random pixel
 * subsets of the faithfulness correlation and the box-clipped L-infinity perturbations of
 * max-sensitivity. A pixel is a position (y, x): substituting it replaces every channel there.
 * The scores come from a `Scorer`, so the metrics run the same on the GPU executor and on a closed
 * form in the tests.
 *
 * @example
 * ```ts
 * const shape: [number, number, number] = [1, 2, 2];
 * const image = Float32Array.of(0.9, 0.1, 0.5, 0.3);
 * const order = importanceOrder(Float32Array.of(4, 1, 3, 2), Float64Array.of(0, 0, 0, 0));
 * const score: Scorer = (images, count) => Promise.resolve(Float32Array.from({ length: count }, (_, i) => images[i * 4]));
 * const curve = await substitutionCurves(score, { starts: image, finishes: new Float32Array(4), orders: [order] }, {
 *   count: 1, shape, steps: 4, targets: Int32Array.of(0), imagesPerCall: 8,
 * });
 * trapezoidArea(curveFractions(4, 4), curve); // 0.1125
 * ```
 */
import { mulberry32 } from "../io/prng.ts";

/** For `count` images back to back (NCHW), the score of each one's target class. */
export type Scorer = (images: Float32Array, count: number, targets: Int32Array) => Promise<Float32Array>;

/**
 * Pixel indices (y * W + x) from the most to the least important by `map` (larger first), ties
 * in the order of `tieKeys` (smaller first, then the index): a map with many equal values (zeros
 * on a black background) is not read in raster order.
 */
export function importanceOrder(map: ArrayLike<number>, tieKeys: ArrayLike<number>): Int32Array {
  const order = Int32Array.from({ length: map.length }, (_, i) => i);
  return order.sort((a, b) => map[b] - map[a] || tieKeys[a] - tieKeys[b] || a - b);
}

/** Pixels substituted after step k = 0..steps: round(k * pixels / steps). */
export function stepCounts(pixels: number, steps: number): Int32Array {
  return Int32Array.from({ length: steps + 1 }, (_, k) => Math.round((k * pixels) / steps));
}

/** The fraction of the pixels substituted after each step (the curves' x axis). */
export function curveFractions(pixels: number, steps: number): Float64Array {
  return Float64Array.from(stepCounts(pixels, steps), (n) => n / pixels);
}

/** The area under y(x) by the trapezoid rule. */
export function trapezoidArea(xs: ArrayLike<number>, ys: ArrayLike<number>): number {
  if (xs.length !== ys.length) throw new Error(`trapezoidArea: ${xs.length} x values, ${ys.length} y values`);
  let area = 0;
  for (let k = 1; k < xs.length; k++) area += ((ys[k - 1] + ys[k]) / 2) * (xs[k] - xs[k - 1]);
  return area;
}

/** Writes `start` with its pixels `pixels[0..n)` taken from `finish` (every channel) into `out` at `offset`. */
export function substitute(
  start: Float32Array,
  finish: Float32Array,
  pixels: Int32Array,
  n: number,
  channels: number,
  out: Float32Array,
  offset: number,
): void {
  const plane = start.length / channels;
  out.set(start, offset);
  for (let k = 0; k < n; k++) {
    for (let c = 0; c < channels; c++) {
      const i = c * plane + pixels[k];
      out[offset + i] = finish[i];
    }
  }
}

/** The images of the substitution curves and how their scores are computed. */
export interface CurveInputs {
  /** [count, C, H, W]: the images at step 0. */
  starts: Float32Array;
  /** [count, C, H, W]: what substituted pixels take. */
  finishes: Float32Array;
  /** Each image's pixel order (importanceOrder). */
  orders: readonly Int32Array[];
}

/** How the curves are sampled and batched. */
export interface CurveSettings {
  count: number;
  shape: readonly [number, number, number];
  /** Steps K: the curve has K + 1 points. */
  steps: number;
  /** The class scored, per image. */
  targets: Int32Array;
  /** Images scored per call at most (at least one image's K + 1 go together). */
  imagesPerCall: number;
}

/**
 * The score after substituting the first round(k * HW / K) pixels of each image's order, k = 0..K:
 * deletion with the image as start and the baseline as finish, insertion the other way round
 * (Petsiuk et al. 2018). Returns [count, K + 1]; the K + 1 images of several images go per call.
 */
export async function substitutionCurves(
  score: Scorer,
  inputs: CurveInputs,
  settings: CurveSettings,
): Promise<Float32Array> {
  const { count, shape, steps, targets } = settings;
  const [channels, height, width] = shape;
  const per = channels * height * width, points = steps + 1;
  const counts = stepCounts(height * width, steps);
  const group = Math.max(1, Math.floor(settings.imagesPerCall / points));
  const curves = new Float32Array(count * points);
  for (let first = 0; first < count; first += group) {
    const n = Math.min(group, count - first);
    const batch = new Float32Array(n * points * per);
    const batchTargets = new Int32Array(n * points);
    for (let b = 0; b < n; b++) {
      const i = first + b;
      const start = inputs.starts.subarray(i * per, (i + 1) * per);
      const finish = inputs.finishes.subarray(i * per, (i + 1) * per);
      for (let k = 0; k < points; k++) {
        substitute(start, finish, inputs.orders[i], counts[k], channels, batch, (b * points + k) * per);
        batchTargets[b * points + k] = targets[i];
      }
    }
    curves.set(await score(batch, n * points, batchTargets), first * points);
  }
  return curves;
}

/**
 * Each channel blurred by a Gaussian of standard deviation `sigma` pixels (separable, truncated at
 * 3 sigma, borders clamped): the insertion curve's substrate, RISE's blurred image.
 */
export function gaussianBlur(
  image: Float32Array,
  shape: readonly [number, number, number],
  sigma: number,
): Float32Array {
  const [channels, height, width] = shape;
  const radius = Math.max(1, Math.ceil(3 * sigma));
  const kernel = Float64Array.from(
    { length: 2 * radius + 1 },
    (_, i) => Math.exp(-((i - radius) ** 2) / (2 * sigma ** 2)),
  );
  const total = kernel.reduce((a, b) => a + b, 0);
  kernel.forEach((v, i) => (kernel[i] = v / total));
  const clamp = (v: number, hi: number) => Math.min(hi, Math.max(0, v));
  const rows = new Float32Array(image.length), out = new Float32Array(image.length);
  const plane = height * width;
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        let s = 0;
        for (let t = -radius; t <= radius; t++) {
          s += kernel[t + radius] * image[c * plane + y * width + clamp(x + t, width - 1)];
        }
        rows[c * plane + y * width + x] = s;
      }
    }
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        let s = 0;
        for (let t = -radius; t <= radius; t++) {
          s += kernel[t + radius] * rows[c * plane + clamp(y + t, height - 1) * width + x];
        }
        out[c * plane + y * width + x] = s;
      }
    }
  }
  return out;
}

/** `runs` subsets of `size` distinct pixels out of `pixels`, each uniform (a partial Fisher-Yates per subset). */
export function randomSubsets(pixels: number, size: number, runs: number, seed: number): Int32Array[] {
  const random = mulberry32(seed);
  const pool = Int32Array.from({ length: pixels }, (_, i) => i);
  return Array.from({ length: runs }, () => {
    for (let i = 0; i < size; i++) {
      const j = i + Math.floor(random() * (pixels - i));
      [pool[i], pool[j]] = [pool[j], pool[i]];
    }
    return pool.slice(0, size);
  });
}

/** x + u, u uniform in [-radius, radius] per value, clipped to `range`: a draw from the L-infinity ball inside the box. */
export function perturbInBall(
  x: Float32Array,
  radius: number,
  range: readonly [number, number],
  seed: number,
): Float32Array {
  const random = mulberry32(seed);
  return x.map((v) => Math.min(range[1], Math.max(range[0], v + radius * (2 * random() - 1))));
}

/** ||a - reference||_2 / ||reference||_2 (0 when both are zero, Infinity when only the reference is). */
export function relativeDistance(a: ArrayLike<number>, reference: ArrayLike<number>): number {
  let diff = 0, norm = 0;
  for (let i = 0; i < a.length; i++) {
    diff += (a[i] - reference[i]) ** 2;
    norm += reference[i] ** 2;
  }
  if (norm === 0) return diff === 0 ? 0 : Infinity;
  return Math.sqrt(diff / norm);
}

/**
 * Max-sensitivity per image: max over the perturbed inputs j of relativeDistance(map(y_j), map(x)),
 * `explain` giving the [count, H, W] maps of `count` images at once.
 */
export async function maxSensitivity(
  explain: (images: Float32Array) => Promise<Float32Array>,
  reference: Float32Array,
  perturbed: readonly Float32Array[],
  count: number,
): Promise<Float64Array> {
  const plane = reference.length / count;
  const out = new Float64Array(count);
  for (const y of perturbed) {
    const moved = await explain(y);
    for (let i = 0; i < count; i++) {
      const at = (maps: Float32Array) => maps.subarray(i * plane, (i + 1) * plane);
      out[i] = Math.max(out[i], relativeDistance(at(moved), at(reference)));
    }
  }
  return out;
}
