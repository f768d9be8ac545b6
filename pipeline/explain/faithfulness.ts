/**
 * Faithfulness of each saliency method to the model, on the GPU executor, per image: does the map
 * point at what the model uses, and does it stay put when the input barely moves? Every map is
 * the one the report shows (computeSaliency's defaults: channels reduced by max |attribution|, the
 * predicted class explained); a pixel is a position (y, x), all its channels together.
 *
 * - **Deletion** (Petsiuk et al. 2018, RISE): pixels ordered by the map, most important first
 *   (ties by a seeded random key per pixel), are set to black (the low end of the input range) in
 *   K equal steps; after step k = 0..K, round(k * HW / K) of them are; the curve is the softmax
 *   probability of the explained class at each step, its area the trapezoid rule over the fraction
 *   substituted (0..1). Lower is better: a faithful map's pixels take the answer away fastest.
 * - **Insertion** (the same paper): the mirror, from a Gaussian-blurred copy of the image towards
 *   the image, the same order and steps. Higher is better. The blur's sigma is a tenth of the
 *   image's longer side (2.8 px at 28, 22.4 at 224): RISE's sigma of 5 px at 224, scaled down,
 *   leaves a 28 px digit readable (the shipped digits model kept 29 of 32 test digits top-1 at
 *   sigma 1 px, 2 of 32 at 3 px), and an insertion curve that starts at the answer measures
 *   nothing.
 * - **Faithfulness correlation** (Bhatt et al. 2020): R random subsets S of |S| = round(HW / 20)
 *   pixels (at least 1); the Pearson correlation, over the subsets, of sum_{i in S} map_i with
 *   f(x) - f(x with S set to black), f the explained class's logit (the saliency methods' f). In
 *   [-1, 1], higher is better; 0 when either side is constant. The subsets and drops are drawn
 *   once per image and shared by every method (a paired comparison).
 * - **Max-sensitivity** (Yeh et al. 2019), Monte Carlo: the largest relative change of the map,
 *   max_j ||map(y_j) - map(x)||_2 / ||map(x)||_2, over N draws y_j = clip(x + u_j) with u_j
 *   uniform in the L-infinity ball of radius r (a share of the range width), clipped to the input
 *   range, the class explained at x kept. Relative, so methods of different scale compare; lower
 *   is better (Infinity where map(x) is zero and map(y_j) is not). SmoothGrad's noise is the same
 *   at x and at every y_j (same seed, same place in the call), so only the input's move counts.
 *
 * Every random draw is seeded by (seed, the image's data index, its purpose), so an image's
 * figures do not depend on which other images are measured with it (SmoothGrad's noise aside,
 * which follows the image's place in the call). The perturbed images are scored in passes of
 * `imagesPerPass` (the adapter's memory): the K + 1 images of a curve always go together.
 *
 * @example
 * ```ts
 * import { Gpu } from "../../kernels/gpu.ts";
 * import { Executor } from "../model/executor.ts";
 * import { loadModelFolder } from "../model/model_folder.ts";
 * declare const images: Float32Array; // 8 images of the model's input shape, back to back
 * const exec = await Executor.create(await Gpu.create(), await loadModelFolder("fixtures/models/digits"));
 * const result = await measureFaithfulness(exec, images, 8, {
 *   methods: ["gradient", "integratedGradients"],
 *   indices: [0, 1, 2, 3, 4, 5, 6, 7],
 *   seed: 1,
 *   imagesPerPass: 64,
 * });
 * console.log(result.methods[0].deletion, result.fractions);
 * ```
 */
import type { Tensor } from "../../kernels/tensor.ts";
import { InputError } from "../io/input_error.ts";
import { mulberry32 } from "../io/prng.ts";
import type { Executor } from "../model/executor.ts";
import {
  curveFractions,
  gaussianBlur,
  importanceOrder,
  maxSensitivity,
  perturbInBall,
  randomSubsets,
  type Scorer,
  substitute,
  substitutionCurves,
  trapezoidArea,
} from "./perturbation.ts";
import { pearson } from "./rank.ts";
import { computeSaliency, type SaliencyMethod } from "./saliency.ts";

/** The metrics' settings; all but `methods`, `indices`, `seed` and `imagesPerPass` have defaults. */
export interface FaithfulnessOptions {
  methods: readonly SaliencyMethod[];
  /** Each image's data index: it seeds the image's random draws. */
  indices: readonly number[];
  seed: number;
  /** Images per forward pass when scoring perturbed images. */
  imagesPerPass: number;
  /** The model's valid input range (default [0, 1]). */
  inputRange?: readonly [number, number];
  /** Deletion and insertion steps K (default 16). */
  steps?: number;
  /** Faithfulness correlation: random subsets per image (default 32). */
  subsets?: number;
  /** Max-sensitivity: perturbations per image (default 3). */
  sensitivitySamples?: number;
  /** Max-sensitivity: the ball's radius as a share of the range width (default 0.02). */
  sensitivityRadius?: number;
}

/** One method's figures, one value per image (and its curves). */
export interface MethodFaithfulness {
  method: SaliencyMethod;
  deletion: Float64Array;
  insertion: Float64Array;
  correlation: Float64Array;
  sensitivity: Float64Array;
  /** [count, K + 1] probabilities of the explained class. */
  deletionCurves: Float32Array;
  insertionCurves: Float32Array;
}

export interface FaithfulnessResult {
  /** The share of pixels substituted at each of the K + 1 curve points. */
  fractions: Float64Array;
  /** The class explained per image (the predicted one). */
  targets: Int32Array;
  methods: MethodFaithfulness[];
}

/** The defaults, as the report states them. */
export const FAITHFULNESS_DEFAULTS = {
  steps: 16,
  subsets: 32,
  /** |S| = round(HW * subsetShare). */
  subsetShare: 1 / 20,
  sensitivitySamples: 3,
  sensitivityRadius: 0.02,
} as const;

/** The insertion substrate's blur, in pixels: a tenth of the image's longer side. */
export function insertionBlurSigma(height: number, width: number): number {
  return Math.max(height, width) / 10;
}

/** What each random draw of an image is for: part of its seed. */
const PURPOSE = { ties: 1, subsets: 2, sensitivity: 3 } as const;

/** A seed from the run's seed, the image's data index and the draw's purpose (and sample). */
function drawSeed(seed: number, index: number, purpose: number, sample = 0): number {
  let h = Math.imul(seed ^ 0x85ebca6b, 0xcc9e2d51);
  h = Math.imul(h ^ (index + 1), 0x1b873593) ^ Math.imul(purpose, 0xe6546b64);
  return (Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) + sample) >>> 0;
}

/** Each image's logits ([count, classes]), `perPass` images per forward. */
async function logitsOf(exec: Executor, images: Float32Array, count: number, perPass: number): Promise<Float32Array> {
  const shape = exec.graph.input.shape;
  const per = shape[0] * shape[1] * shape[2];
  const classes = exec.outputShape(1)[1];
  const out = new Float32Array(count * classes);
  for (let first = 0; first < count; first += perPass) {
    const n = Math.min(perPass, count - first);
    using x = exec.gpu.tensor([n, ...shape], images.subarray(first * per, (first + n) * per));
    let logits!: Tensor;
    await exec.gpu.run((step) => (logits = exec.forward(step, x)));
    using _ = logits;
    out.set(await exec.gpu.read(logits), first * classes);
  }
  return out;
}

/** The target's logit, or its softmax probability, per image. */
function scorer(exec: Executor, kind: "logit" | "probability", perPass: number): Scorer {
  return async (images, count, targets) => {
    const logits = await logitsOf(exec, images, count, perPass);
    const classes = logits.length / count;
    return Float32Array.from({ length: count }, (_, b) => {
      const row = logits.subarray(b * classes, (b + 1) * classes);
      const t = targets[b];
      if (kind === "logit") return row[t];
      const top = Math.max(...row);
      let sum = 0;
      for (const v of row) sum += Math.exp(v - top);
      return Math.exp(row[t] - top) / sum;
    });
  };
}

function argmaxRows(values: Float32Array, rows: number): Int32Array {
  const width = values.length / rows;
  return Int32Array.from({ length: rows }, (_, r) => {
    let best = 0;
    for (let k = 1; k < width; k++) if (values[r * width + k] > values[r * width + best]) best = k;
    return best;
  });
}

/** Measures every method of `options.methods` on `count` images (NCHW, in the model's input range). */
export async function measureFaithfulness(
  exec: Executor,
  images: Float32Array,
  count: number,
  options: FaithfulnessOptions,
): Promise<FaithfulnessResult> {
  const shape = exec.graph.input.shape as [number, number, number];
  const [channels, height, width] = shape;
  const plane = height * width, per = channels * plane;
  if (images.length !== count * per || options.indices.length !== count) {
    throw new InputError(
      `faithfulness: ${images.length} values and ${options.indices.length} indices for ${count} images`,
    );
  }
  const settings = { ...FAITHFULNESS_DEFAULTS, ...definedOnly(options) };
  const range = options.inputRange ?? [0, 1];
  const perPass = Math.max(1, options.imagesPerPass);
  const probability = scorer(exec, "probability", perPass);
  const logit = scorer(exec, "logit", perPass);
  const cleanLogits = await logitsOf(exec, images, count, perPass);
  const targets = argmaxRows(cleanLogits, count);
  const imageOf = (all: Float32Array, i: number) => all.subarray(i * per, (i + 1) * per);

  const black = new Float32Array(count * per).fill(range[0]);
  const blurred = new Float32Array(count * per);
  const sigma = insertionBlurSigma(height, width);
  for (let i = 0; i < count; i++) blurred.set(gaussianBlur(imageOf(images, i), shape, sigma), i * per);
  const tieKeys = options.indices.map((index) => {
    const random = mulberry32(drawSeed(options.seed, index, PURPOSE.ties));
    return Float64Array.from({ length: plane }, random);
  });

  const subsets = await subsetDrops(logit, images, count, shape, targets, cleanLogits, options, settings, range[0]);
  const perturbed = Array.from({ length: settings.sensitivitySamples }, (_, j) => {
    const out = new Float32Array(count * per);
    for (let i = 0; i < count; i++) {
      const seed = drawSeed(options.seed, options.indices[i], PURPOSE.sensitivity, j);
      out.set(
        perturbInBall(imageOf(images, i), settings.sensitivityRadius * (range[1] - range[0]), range, seed),
        i * per,
      );
    }
    return out;
  });

  const curveSettings = { count, shape, steps: settings.steps, targets, imagesPerCall: perPass };
  const fractions = curveFractions(plane, settings.steps);
  const methods: MethodFaithfulness[] = [];
  for (const method of options.methods) {
    const explain = async (x: Float32Array) =>
      (await computeSaliency(exec, x, count, { method, targets, inputRange: range })).maps;
    const maps = await explain(images);
    const mapOf = (all: Float32Array, i: number) => all.subarray(i * plane, (i + 1) * plane);
    const orders = Array.from({ length: count }, (_, i) => importanceOrder(mapOf(maps, i), tieKeys[i]));
    const deletionCurves = await substitutionCurves(
      probability,
      { starts: images, finishes: black, orders },
      curveSettings,
    );
    const insertionCurves = await substitutionCurves(
      probability,
      { starts: blurred, finishes: images, orders },
      curveSettings,
    );
    const area = (curves: Float32Array) =>
      Float64Array.from(
        { length: count },
        (_, i) => trapezoidArea(fractions, curves.subarray(i * (settings.steps + 1), (i + 1) * (settings.steps + 1))),
      );
    const correlation = Float64Array.from({ length: count }, (_, i) => {
      const map = mapOf(maps, i);
      const sums = Float64Array.from(subsets.pixels[i], (s) => s.reduce((total, p) => total + map[p], 0));
      return pearson(sums, subsets.drops[i]);
    });
    const sensitivity = await maxSensitivity(explain, maps, perturbed, count);
    methods.push({
      method,
      deletion: area(deletionCurves),
      insertion: area(insertionCurves),
      correlation,
      sensitivity,
      deletionCurves,
      insertionCurves,
    });
  }
  return { fractions, targets, methods };
}

/** The options given, without the keys left undefined (so they do not hide the defaults). */
function definedOnly(options: FaithfulnessOptions): Partial<typeof FAITHFULNESS_DEFAULTS> {
  const { steps, subsets, sensitivitySamples, sensitivityRadius } = options;
  const given = { steps, subsets, sensitivitySamples, sensitivityRadius };
  return Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined));
}

/**
 * The faithfulness correlation's random subsets of each image and the drop of the explained
 * class's logit when each subset is set to `black`: f(x) - f(x_S).
 */
async function subsetDrops(
  logit: Scorer,
  images: Float32Array,
  count: number,
  shape: readonly [number, number, number],
  targets: Int32Array,
  cleanLogits: Float32Array,
  options: FaithfulnessOptions,
  settings: typeof FAITHFULNESS_DEFAULTS,
  black: number,
): Promise<{ pixels: Int32Array[][]; drops: Float64Array[] }> {
  const [channels, height, width] = shape;
  const plane = height * width, per = channels * plane, runs = settings.subsets;
  const size = Math.max(1, Math.round(plane * settings.subsetShare));
  const classes = cleanLogits.length / count;
  const blackImage = new Float32Array(per).fill(black);
  const pixels = options.indices.map((index) =>
    randomSubsets(plane, size, runs, drawSeed(options.seed, index, PURPOSE.subsets))
  );
  // One image's subsets per call: at 224 px, 32 masked copies are 19 MB.
  const drops: Float64Array[] = [];
  const masked = new Float32Array(runs * per);
  for (let i = 0; i < count; i++) {
    const image = images.subarray(i * per, (i + 1) * per);
    pixels[i].forEach((s, r) => substitute(image, blackImage, s, size, channels, masked, r * per));
    const scores = await logit(masked, runs, new Int32Array(runs).fill(targets[i]));
    const clean = cleanLogits[i * classes + targets[i]];
    drops.push(Float64Array.from(scores, (v) => clean - v));
  }
  return { pixels, drops };
}
