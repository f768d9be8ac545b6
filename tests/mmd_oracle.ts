/**
 * Float64 oracles for the bias tool: RBF Gram matrices, MMD^2 (biased and unbiased), the
 * MMD-critic prototype objective, and a CPU two-sample permutation test over a given Gram.
 */

/** Squared distances (gamma undefined) or RBF values exp(-gamma d^2) between rows of x [n, w] and y [m, w]. */
export function gramOracle(x: ArrayLike<number>, y: ArrayLike<number>, width: number, gamma?: number): Float64Array {
  const n = x.length / width, m = y.length / width;
  const out = new Float64Array(n * m);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < m; j++) {
      let d2 = 0;
      for (let k = 0; k < width; k++) d2 += (x[i * width + k] - y[j * width + k]) ** 2;
      out[i * m + j] = gamma === undefined ? d2 : Math.exp(-gamma * d2);
    }
  }
  return out;
}

function blockMean(k: Float64Array, cols: number, excludeDiagonal: boolean): number {
  let s = 0, count = 0;
  const rows = k.length / cols;
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      if (excludeDiagonal && i === j) continue;
      s += k[i * cols + j];
      count++;
    }
  }
  return s / count;
}

/** Biased and unbiased MMD^2 between the row sets x and y under exp(-gamma d^2). */
export function mmd2Oracle(
  x: ArrayLike<number>,
  y: ArrayLike<number>,
  width: number,
  gamma: number,
): { biased: number; unbiased: number } {
  const n = x.length / width, m = y.length / width;
  const kxx = gramOracle(x, x, width, gamma), kyy = gramOracle(y, y, width, gamma);
  const kxy = blockMean(gramOracle(x, y, width, gamma), m, false);
  return {
    biased: blockMean(kxx, n, false) + blockMean(kyy, m, false) - 2 * kxy,
    unbiased: blockMean(kxx, n, true) + blockMean(kyy, m, true) - 2 * kxy,
  };
}

/** The MMD-critic objective J(S) = 2/(n|S|) sum_{i, j in S} k_ij - 1/|S|^2 sum_{i, j in S} k_ij, from a Gram. */
export function prototypeObjectiveOracle(gram: Float64Array, n: number, selected: readonly number[]): number {
  if (selected.length === 0) return 0;
  let cross = 0, within = 0;
  for (const j of selected) {
    for (let i = 0; i < n; i++) cross += gram[i * n + j];
    for (const l of selected) within += gram[j * n + l];
  }
  const m = selected.length;
  return (2 * cross) / (n * m) - within / (m * m);
}
