/**
 * The structural similarity index (SSIM; Wang, Bovik, Sheikh & Simoncelli 2004) of two maps, the
 * similarity Adebayo et al. (2018) report beside rank correlation: local means, variances and the
 * covariance under an 11x11 Gaussian window (sigma 1.5, truncated at 3.5 sigma), constants
 * C1 = (0.01 R)^2 and C2 = (0.03 R)^2 for the data range R, population (not sample) covariance,
 * averaged over the pixels whose window lies inside the map. This is
 * `skimage.metrics.structural_similarity(a, b, gaussian_weights=True, sigma=1.5,
 * use_sample_covariance=False, data_range=R)`, which tests/sanity_similarity_test.ts checks.
 *
 * A map smaller than the window (below 11 pixels a side: small test models) gets the largest window
 * that fits, radius r = (side - 1) / 2 rounded down, with sigma 0.3 r (1.5 at radius 5), which is
 * skimage's with `sigma=0.3 r, win_size=2 r + 1`.
 *
 * @example
 * ```ts
 * const a = Float64Array.from({ length: 16 * 16 }, (_, i) => (i % 16) / 15);
 * ssim(a, a, 16, 16); // 1
 * ```
 */

/** The radius of Wang et al.'s window: int(3.5 sigma + 0.5) for sigma 1.5, as scipy.ndimage truncates. */
const FULL_RADIUS = 5;
const K1 = 0.01;
const K2 = 0.03;

/** The window's radius for a map whose smaller side is `side`. */
export function ssimRadius(side: number): number {
  return Math.min(FULL_RADIUS, Math.floor((side - 1) / 2));
}

/** The normalised 1-D Gaussian weights of a window of `radius` (sigma 0.3 radius). */
function gaussianWeights(radius: number): Float64Array {
  const sigma = 0.3 * radius;
  const w = Float64Array.from({ length: 2 * radius + 1 }, (_, i) => Math.exp(-((i - radius) ** 2) / (2 * sigma ** 2)));
  const total = w.reduce((s, v) => s + v, 0);
  return w.map((v) => v / total);
}

/** Gaussian-weighted local means of `values` at the interior pixels (separable: rows, then columns). */
function localMeans(values: Float64Array, height: number, width: number, weights: Float64Array): Float64Array {
  const radius = (weights.length - 1) / 2;
  const innerH = height - 2 * radius, innerW = width - 2 * radius;
  const rows = new Float64Array(height * innerW);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < innerW; x++) {
      let s = 0;
      for (let k = 0; k < weights.length; k++) s += weights[k] * values[y * width + x + k];
      rows[y * innerW + x] = s;
    }
  }
  const out = new Float64Array(innerH * innerW);
  for (let y = 0; y < innerH; y++) {
    for (let x = 0; x < innerW; x++) {
      let s = 0;
      for (let k = 0; k < weights.length; k++) s += weights[k] * rows[(y + k) * innerW + x];
      out[y * innerW + x] = s;
    }
  }
  return out;
}

/** Mean SSIM of two [height, width] maps with data range `range` (default 1). */
export function ssim(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  height: number,
  width: number,
  range = 1,
): number {
  if (a.length !== height * width || b.length !== height * width) {
    throw new Error(`ssim: maps of ${a.length} and ${b.length} values are not ${height}x${width}`);
  }
  const radius = ssimRadius(Math.min(height, width));
  if (radius < 1) throw new Error(`ssim: a ${height}x${width} map is too small for a 3x3 window`);
  const weights = gaussianWeights(radius);
  const x = Float64Array.from(a), y = Float64Array.from(b);
  const product = (p: Float64Array, q: Float64Array) => p.map((v, i) => v * q[i]);
  const [mx, my] = [localMeans(x, height, width, weights), localMeans(y, height, width, weights)];
  const mxx = localMeans(product(x, x), height, width, weights);
  const myy = localMeans(product(y, y), height, width, weights);
  const mxy = localMeans(product(x, y), height, width, weights);
  const c1 = (K1 * range) ** 2, c2 = (K2 * range) ** 2;
  let total = 0;
  for (let i = 0; i < mx.length; i++) {
    const vx = mxx[i] - mx[i] ** 2, vy = myy[i] - my[i] ** 2, vxy = mxy[i] - mx[i] * my[i];
    total += ((2 * mx[i] * my[i] + c1) * (2 * vxy + c2)) / ((mx[i] ** 2 + my[i] ** 2 + c1) * (vx + vy + c2));
  }
  return total / mx.length;
}
