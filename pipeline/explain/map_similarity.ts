/**
 * How alike two saliency maps are, by the four measures of Adebayo et al. (2018):
 *
 * - `spearman`: Spearman's rank correlation of the signed maps;
 * - `absSpearman`: the same of their absolute values (what the figure shows);
 * - `ssim`: the structural similarity (ssim.ts) of the absolute maps, each scaled to [0, 1] by
 *   its largest value (data range 1; a map of zeros stays zeros);
 * - `hog`: the Pearson correlation of the HOG descriptors (hog.ts) of those scaled maps.
 *
 * Each is 1 for identical maps. Maps are signed per pixel: the channel sum of the attributions
 * (saliency "sum" reduction), so on a one-channel image the absolute map is Adebayo et al.'s sum of
 * absolute values over channels; on RGB it is the absolute value of the channel sum.
 *
 * @example
 * ```ts
 * const a = Float32Array.from({ length: 2 * 28 * 28 }, (_, i) => Math.sin(i));
 * const perImage = mapSimilarity(a, a, 2, 28, 28); // every measure 1 for both images
 * ```
 */
import { hogSimilarity } from "./hog.ts";
import { spearman } from "./rank.ts";
import { ssim } from "./ssim.ts";

/** The similarity measures, in the order reports list them. */
export const SIMILARITY_MEASURES = ["spearman", "absSpearman", "ssim", "hog"] as const;
export type SimilarityMeasure = (typeof SIMILARITY_MEASURES)[number];

/** One value per measure. */
export type Similarity = Record<SimilarityMeasure, number>;

/** |map| scaled to [0, 1] by its largest value. */
export function scaledAbsolute(map: ArrayLike<number>): Float64Array {
  const abs = Float64Array.from(map, Math.abs);
  const top = abs.reduce((m, v) => Math.max(m, v), 0);
  return top > 0 ? abs.map((v) => v / top) : abs;
}

/** The four measures of one pair of [height, width] maps. */
export function similarity(a: ArrayLike<number>, b: ArrayLike<number>, height: number, width: number): Similarity {
  // Identical maps are alike by every measure, constant ones too (whose correlations are undefined:
  // an all-zero Grad-CAM before and after a change is no evidence that the change mattered).
  if (sameValues(a, b)) return { spearman: 1, absSpearman: 1, ssim: 1, hog: 1 };
  const [sa, sb] = [scaledAbsolute(a), scaledAbsolute(b)];
  return {
    spearman: spearman(a, b),
    absSpearman: spearman(sa, sb),
    ssim: ssim(sa, sb, height, width),
    hog: hogSimilarity(sa, sb, height, width),
  };
}

function sameValues(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The measures of each of `count` pairs of [height, width] maps, stored image after image. */
export function mapSimilarity(
  before: Float32Array,
  after: Float32Array,
  count: number,
  height: number,
  width: number,
): Similarity[] {
  const plane = height * width;
  return Array.from({ length: count }, (_, i) => {
    const [from, to] = [i * plane, (i + 1) * plane];
    return similarity(before.subarray(from, to), after.subarray(from, to), height, width);
  });
}

/** The mean of each measure over images. */
export function meanSimilarity(perImage: readonly Similarity[]): Similarity {
  const mean = (m: SimilarityMeasure) => perImage.reduce((s, v) => s + v[m], 0) / perImage.length;
  return Object.fromEntries(SIMILARITY_MEASURES.map((m) => [m, mean(m)])) as Similarity;
}
