/**
 * The structural similarity index (SSIM; Wang, Bovik, Sheikh & Simoncelli 2004) of two maps, the
 * similarity Adebayo et al. (2018) report beside rank correlation: local means, variances and the
 * covariance under an 11x11 Gaussian window (sigma 1.5, truncated at 3.5 sigma), constants
 * C1 = (0.01 R)^2 and C2 = (0.03 R)^2 for the data range R, population (not sample) covariance,
 * averaged over the pixels whose window lies inside the map. This is
 * `skimage.metrics.structural_similarity(a, b, gaussian_weights=True, sigma=1.5,
 * use_sample_covariance=False, data_range=R)`, which tests/sanity_similarity_test.ts checks.
 *
 * @example
 * ```ts
 * const a = Float64Array.from({ length: 16 * 16 }, (_, i) => (i % 16) / 15);
 * ssim(a, a, 16, 16); // 1
 * ```
 */

const SIGMA = 1.5;
/** Window radius: int(3.5 sigma + 0.5), as scipy.ndimage truncates its Gaussian. */
const RADIUS = Math.floor(3.5 * SIGMA + 0.5);
const K1 = 0.01;
const K2 = 0.03;

/** The normalised 1-D Gaussian weights of the window, 2 RADIUS + 1 of them. */
const WEIGHTS: Float64Array = (() => {
  const w = Float64Array.from({ length: 2 * RADIUS + 1 }, (_, i) => Math.exp(-((i - RADIUS) ** 2) / (2 * SIGMA ** 2)));
  const total = w.reduce((s, v) => s + v, 0);
  return w.map((v) => v / total);
})();

/** The smallest side SSIM is defined for: the window must fit. */
export const SSIM_MIN_SIDE: number = 2 * RADIUS + 1;

/** Gaussian-weighted local means of `values` at the interior pixels (separable: rows, then columns). */
function localMeans(values: Float64Array, height: number, width: number): Float64Array {
  const innerH = height - 2 * RADIUS, innerW = width - 2 * RADIUS;
  const rows = new Float64Array(height * innerW);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < innerW; x++) {
      let s = 0;
      for (let k = 0; k < WEIGHTS.length; k++) s += WEIGHTS[k] * values[y * width + x + k];
      rows[y * innerW + x] = s;
    }
  }
  const out = new Float64Array(innerH * innerW);
  for (let y = 0; y < innerH; y++) {
    for (let x = 0; x < innerW; x++) {
      let s = 0;
      for (let k = 0; k < WEIGHTS.length; k++) s += WEIGHTS[k] * rows[(y + k) * innerW + x];
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
  if (height < SSIM_MIN_SIDE || width < SSIM_MIN_SIDE) {
    throw new Error(`ssim: a ${height}x${width} map is smaller than the ${SSIM_MIN_SIDE}x${SSIM_MIN_SIDE} window`);
  }
  const x = Float64Array.from(a), y = Float64Array.from(b);
  const product = (p: Float64Array, q: Float64Array) => p.map((v, i) => v * q[i]);
  const [mx, my] = [localMeans(x, height, width), localMeans(y, height, width)];
  const mxx = localMeans(product(x, x), height, width);
  const myy = localMeans(product(y, y), height, width);
  const mxy = localMeans(product(x, y), height, width);
  const c1 = (K1 * range) ** 2, c2 = (K2 * range) ** 2;
  let total = 0;
  for (let i = 0; i < mx.length; i++) {
    const vx = mxx[i] - mx[i] ** 2, vy = myy[i] - my[i] ** 2, vxy = mxy[i] - mx[i] * my[i];
    total += ((2 * mx[i] * my[i] + c1) * (2 * vxy + c2)) / ((mx[i] ** 2 + my[i] ** 2 + c1) * (vx + vy + c2));
  }
  return total / mx.length;
}
