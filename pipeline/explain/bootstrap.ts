/**
 * A percentile bootstrap interval for a mean (Efron & Tibshirani 1993, ch. 13): the mean of
 * `resamples` seeded resamples (with replacement, of the same size) of the values, and the
 * (1 - level) / 2 and (1 + level) / 2 quantiles of those means (linear interpolation between
 * order statistics, numpy's default). Used for the sanity checks' verdicts over the images checked.
 *
 * @example
 * ```ts
 * const { mean, low, high } = bootstrapMean([0.1, 0.4, 0.35, 0.2], { seed: 1 }); // mean 0.2625
 * ```
 */
import { mulberry32 } from "../io/prng.ts";

export interface BootstrapOptions {
  /** Resamples drawn (default 2000). */
  resamples?: number;
  /** Coverage of the interval (default 0.95). */
  level?: number;
  /** Seed of the resampling (default 0). */
  seed?: number;
}

export interface Interval {
  mean: number;
  low: number;
  high: number;
}

/** The q-quantile of sorted values, interpolating linearly between order statistics. */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  const at = q * (sorted.length - 1);
  const below = Math.floor(at);
  const above = Math.min(sorted.length - 1, below + 1);
  return sorted[below] + (at - below) * (sorted[above] - sorted[below]);
}

/** The values' mean with its percentile bootstrap interval. */
export function bootstrapMean(values: readonly number[], options: BootstrapOptions = {}): Interval {
  const n = values.length;
  if (n === 0) throw new Error("bootstrap: no values");
  const resamples = options.resamples ?? 2000;
  const level = options.level ?? 0.95;
  const random = mulberry32(options.seed ?? 0);
  const means = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += values[Math.floor(random() * n)];
    means[r] = sum / n;
  }
  means.sort();
  return {
    mean: values.reduce((s, v) => s + v, 0) / n,
    low: quantile(means, (1 - level) / 2),
    high: quantile(means, (1 + level) / 2),
  };
}
