/**
 * Maximum mean discrepancy (Gretton et al., "A Kernel Two-Sample Test", JMLR 2012) between two
 * sets of feature rows under the RBF kernel k(a, b) = exp(-|a - b|^2 / (2 sigma^2)), computed on
 * the GPU in row blocks (GramEngine), with a permutation test.
 *
 * Every statistic is a quadratic form of the pooled Gram: with u_X, u_Y the indicator vectors of
 * the two sets, S_XX = u_X^T K u_X, S_YY = u_Y^T K u_Y, and the biased MMD^2 is w^T K w for
 * w = u_X / n - u_Y / m. A permutation's statistic is the same form for a relabelled w, so all
 * permutations are columns of one matrix W and cost one pass over the Gram blocks (K_block W).
 *
 * @example
 * ```ts
 * import { Gpu } from "../../kernels/gpu.ts";
 * declare const marked: Float32Array, clean: Float32Array; // rows of 128 features each
 * const result = await mmdTest(await Gpu.create(), marked, clean, 128, { permutations: 1000, seed: 1 });
 * console.log(result.unbiased, result.pValue);
 * ```
 */
import type { Gpu } from "../../kernels/gpu.ts";
import { seededPermutation } from "../io/prng.ts";
import { InputError } from "../io/input_error.ts";
import { GramEngine } from "./gram.ts";

/** Subsample size of the median heuristic (pairs grow as its square). */
export const MEDIAN_SAMPLES = 1000;

/** gamma of exp(-gamma d^2) for bandwidth sigma. */
export function gammaOf(sigma: number): number {
  return 1 / (2 * sigma * sigma);
}

/**
 * The median heuristic: sigma = the median distance between distinct rows (of a seeded subsample
 * of at most `maxSamples` rows). Falls back to the root mean square distance when more than half
 * the pairs coincide, and to 1 when every row is the same.
 */
export async function medianBandwidth(
  gpu: Gpu,
  features: Float32Array,
  width: number,
  options: { maxSamples?: number; seed?: number; memoryBudget?: number } = {},
): Promise<number> {
  const sample = subsampleRows(features, width, options.maxSamples ?? MEDIAN_SAMPLES, options.seed ?? 0);
  const s = sample.length / width;
  if (s < 2) return 1;
  const pairs = new Float32Array((s * (s - 1)) / 2);
  let at = 0;
  using engine = await GramEngine.create(gpu, sample, width, options);
  await engine.forEachBlock(undefined, (block, rowOffset, rows) => {
    for (let r = 0; r < rows; r++) {
      const i = rowOffset + r;
      pairs.set(block.subarray(r * s + i + 1, (r + 1) * s), at); // the upper triangle, j > i
      at += s - i - 1;
    }
  });
  pairs.sort();
  const median = pairs[Math.floor(pairs.length / 2)];
  if (median > 0) return Math.sqrt(median);
  const mean = pairs.reduce((a, v) => a + v, 0) / pairs.length;
  return mean > 0 ? Math.sqrt(mean) : 1;
}

/** At most `max` rows of `features`, a seeded random subset in their original order. */
export function subsampleRows(features: Float32Array, width: number, max: number, seed: number): Float32Array {
  const n = features.length / width;
  if (n <= max) return features;
  const keep = seededPermutation(n, seed).subarray(0, max).sort();
  const out = new Float32Array(max * width);
  keep.forEach((row, i) => out.set(features.subarray(row * width, (row + 1) * width), i * width));
  return out;
}

export interface MmdOptions {
  /** Kernel bandwidth; the median heuristic over the pooled rows when omitted. */
  sigma?: number;
  /** Seed of the permutations and subsamples (default 0). */
  seed?: number;
  /** GPU bytes per Gram block (default DEFAULT_GRAM_BUDGET). */
  memoryBudget?: number;
}

export interface MmdResult {
  /** MMD^2 with the k(x, x) terms: >= 0 (clamped at 0 against float rounding). */
  biased: number;
  /** The unbiased estimate (can be negative); NaN when a set has one row. */
  unbiased: number;
  sigma: number;
  /** Rows of each set used. */
  sizes: [number, number];
}

export interface MmdTestResult extends MmdResult {
  /** (1 + #{permuted biased MMD^2 >= observed}) / (1 + permutations): the observed labelling counts. */
  pValue: number;
  permutations: number;
}

/** Biased and unbiased MMD^2 between row sets x and y (rows of `width`). */
export async function mmd2(
  gpu: Gpu,
  x: Float32Array,
  y: Float32Array,
  width: number,
  options: MmdOptions = {},
): Promise<MmdResult> {
  const result = await mmdTest(gpu, x, y, width, { ...options, permutations: 0 });
  return { biased: result.biased, unbiased: result.unbiased, sigma: result.sigma, sizes: result.sizes };
}

/**
 * MMD^2 and a permutation test of "x and y come from the same distribution". The test statistic
 * is the biased MMD^2; permutations relabel the pooled rows keeping both set sizes (seeded).
 */
export async function mmdTest(
  gpu: Gpu,
  x: Float32Array,
  y: Float32Array,
  width: number,
  options: MmdOptions & { permutations?: number } = {},
): Promise<MmdTestResult> {
  const n = x.length / width, m = y.length / width;
  if (!Number.isInteger(n) || !Number.isInteger(m) || n < 1 || m < 1) {
    throw new InputError(`mmd: both sets need at least one row of ${width} values (got ${n} and ${m})`);
  }
  const permutations = options.permutations ?? 1000;
  const seed = options.seed ?? 0;
  const pooled = new Float32Array(x.length + y.length);
  pooled.set(x);
  pooled.set(y, x.length);
  const sigma = options.sigma ??
    await medianBandwidth(gpu, pooled, width, { seed, memoryBudget: options.memoryBudget });
  // Columns: u_X, u_Y, the observed w, then one w per permutation.
  const total = n + m, columns = 3 + permutations;
  const weights = new Float32Array(total * columns);
  for (let i = 0; i < total; i++) {
    const inX = i < n;
    weights[i * columns] = inX ? 1 : 0;
    weights[i * columns + 1] = inX ? 0 : 1;
    weights[i * columns + 2] = inX ? 1 / n : -1 / m;
  }
  for (let p = 0; p < permutations; p++) {
    const order = seededPermutation(total, (seed * 1000003 + p + 1) >>> 0);
    for (let rank = 0; rank < total; rank++) weights[order[rank] * columns + 3 + p] = rank < n ? 1 / n : -1 / m;
  }
  using engine = await GramEngine.create(gpu, pooled, width, { memoryBudget: options.memoryBudget });
  const forms = await engine.quadraticForms(weights, columns, gammaOf(sigma));
  const [sxx, syy, observed] = forms;
  // The Gram's diagonal is exactly 1 (rbf_gram.wgsl), so the k(x, x) terms sum to n and m.
  const crossMean = (sxx / (n * n) + syy / (m * m) - observed) / 2; // = S_XY / (n m)
  const unbiased = n > 1 && m > 1 ? (sxx - n) / (n * (n - 1)) + (syy - m) / (m * (m - 1)) - 2 * crossMean : NaN;
  let atLeast = 0;
  for (let p = 0; p < permutations; p++) if (forms[3 + p] >= observed) atLeast++;
  return {
    biased: Math.max(0, observed),
    unbiased,
    sigma,
    sizes: [n, m],
    pValue: (1 + atLeast) / (1 + permutations),
    permutations,
  };
}
