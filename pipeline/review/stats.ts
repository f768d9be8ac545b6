/**
 * The statistics of a human study: Wilson score intervals (also with an effective sample size, for
 * a stratified estimate), Newcombe's interval of a difference of two proportions, Fisher's exact
 * two-sided test of a 2x2 table, Krippendorff's alpha for nominal answers with any number of
 * answers per item, and the stratified estimate of a share with its variance.
 *
 * @example
 * ```ts
 * wilson(8, 10); // { lo: 0.4902, hi: 0.9433 } (rounded)
 * fisherExact(8, 2, 1, 5); // two-sided p of the table [[8, 2], [1, 5]]
 * krippendorffAlpha([["a", "a", "b"], ["b", "b"]]);
 * ```
 */

/** The normal quantile of a two-sided 95% interval. */
export const Z95 = 1.959963984540054;

/** An interval [lo, hi]. */
export interface Interval {
  lo: number;
  hi: number;
}

/**
 * The Wilson score interval of a share `successes / n` (Wilson 1927). `n` may be an effective
 * sample size (not an integer); n = 0 gives [0, 1], nothing known.
 *
 * @example
 * ```ts
 * const { lo, hi } = wilson(0, 12); // lo = 0, hi ~ 0.243
 * ```
 */
export function wilson(successes: number, n: number, z = Z95): Interval {
  if (n <= 0) return { lo: 0, hi: 1 };
  const p = successes / n, z2 = z * z;
  const centre = (p + z2 / (2 * n)) / (1 + z2 / n);
  const half = (z / (1 + z2 / n)) * Math.sqrt(p * (1 - p) / n + z2 / (4 * n * n));
  return { lo: Math.max(0, centre - half), hi: Math.min(1, centre + half) };
}

/**
 * Newcombe's hybrid score interval (his method 10, 1998) of p1 - p2 for two independent shares
 * a1/n1 and a2/n2, from their Wilson intervals; null when either share has no trials.
 *
 * @example
 * ```ts
 * const d = newcombeDifference(9, 10, 4, 10); // around 0.5, with its interval
 * ```
 */
export function newcombeDifference(
  a1: number,
  n1: number,
  a2: number,
  n2: number,
): (Interval & { difference: number }) | null {
  if (n1 === 0 || n2 === 0) return null;
  const p1 = a1 / n1, p2 = a2 / n2;
  const w1 = wilson(a1, n1), w2 = wilson(a2, n2);
  const difference = p1 - p2;
  return {
    difference,
    lo: difference - Math.sqrt((p1 - w1.lo) ** 2 + (w2.hi - p2) ** 2),
    hi: difference + Math.sqrt((w1.hi - p1) ** 2 + (p2 - w2.lo) ** 2),
  };
}

/** log(n!) by summation, exact enough for the table sizes of a study (thousands). */
function logFactorials(n: number): Float64Array {
  const out = new Float64Array(n + 1);
  for (let i = 2; i <= n; i++) out[i] = out[i - 1] + Math.log(i);
  return out;
}

/**
 * Fisher's exact test, two-sided, of the table [[a, b], [c, d]]: the probability, with the margins
 * fixed, of every table at most as likely as the one seen (the convention of R and SciPy, with a
 * relative tolerance of 1e-7 for ties).
 *
 * @example
 * ```ts
 * fisherExact(3, 1, 1, 3); // 0.4857
 * ```
 */
export function fisherExact(a: number, b: number, c: number, d: number): number {
  const row1 = a + b, col1 = a + c, n = a + b + c + d;
  const lf = logFactorials(n);
  const logP = (x: number) =>
    lf[row1] + lf[n - row1] + lf[col1] + lf[n - col1] - lf[n] - lf[x] - lf[row1 - x] - lf[col1 - x] -
    lf[n - row1 - col1 + x];
  const seen = logP(a);
  let p = 0;
  for (let x = Math.max(0, row1 + col1 - n); x <= Math.min(row1, col1); x++) {
    const lp = logP(x);
    if (lp <= seen + 1e-7) p += Math.exp(lp);
  }
  return Math.min(1, p);
}

/**
 * Krippendorff's alpha for nominal answers: 1 - observed / expected disagreement over the pairs of
 * answers within each item. `items` holds each item's answers; items with fewer than two answers
 * pair nothing and are left out. Null when no answers pair, or when all are the same answer (no
 * disagreement could be expected, so agreement says nothing).
 *
 * @example
 * ```ts
 * krippendorffAlpha([["yes", "yes"], ["no", "no"]]); // 1
 * ```
 */
export function krippendorffAlpha(items: readonly (readonly string[])[]): number | null {
  // Coincidences: within an item of m answers, each ordered pair of distinct answers counts 1/(m-1).
  const coincidence = new Map<string, Map<string, number>>();
  let n = 0;
  for (const answers of items) {
    const m = answers.length;
    if (m < 2) continue;
    n += m;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < m; j++) {
        if (i === j) continue;
        const row = coincidence.get(answers[i]) ?? new Map<string, number>();
        row.set(answers[j], (row.get(answers[j]) ?? 0) + 1 / (m - 1));
        coincidence.set(answers[i], row);
      }
    }
  }
  if (n === 0) return null;
  const values = [...coincidence.keys()];
  const marginal = (c: string) => [...coincidence.get(c)!.values()].reduce((s, v) => s + v, 0);
  let observed = 0, expected = 0;
  for (const c of values) {
    for (const k of values) {
      if (c === k) continue;
      observed += coincidence.get(c)!.get(k) ?? 0;
      expected += marginal(c) * marginal(k);
    }
  }
  if (expected === 0) return null;
  return 1 - (n - 1) * observed / expected;
}

/** One stratum of a stratified sample: its size in the population, and its sampled items' outcomes. */
export interface Stratum {
  population: number;
  /** 1 for an item that has the property, 0 for one that has not. */
  sample: readonly (0 | 1)[];
}

/** A stratified estimate of a population share. */
export interface StratifiedShare extends Interval {
  estimate: number;
  /** The estimate's variance (with the finite-population correction). */
  variance: number;
  /** Items sampled (in strata with at least one). */
  n: number;
  /** The sample size a simple random sample would need for the same variance (Kish). */
  effectiveN: number;
}

/**
 * The share of the population with a property, estimated from a stratified random sample: each
 * stratum's sample share weighted by the stratum's share of the population (strata with no sampled
 * item are left out, the others reweighted), with the usual variance sum W_h^2 (1 - n_h/N_h)
 * s_h^2 / n_h, and a Wilson interval at the effective sample size. When the estimate's variance is
 * 0 the effective size is the sample's (all items agree), or infinite for a census.
 * Null when nothing is sampled.
 *
 * @example
 * ```ts
 * const s = stratifiedShare([{ population: 100, sample: [1, 0, 1] }, { population: 50, sample: [0, 0] }]);
 * ```
 */
export function stratifiedShare(strata: readonly Stratum[]): StratifiedShare | null {
  const used = strata.filter((s) => s.sample.length > 0);
  const total = used.reduce((sum, s) => sum + s.population, 0);
  const n = used.reduce((sum, s) => sum + s.sample.length, 0);
  if (n === 0 || total === 0) return null;
  let estimate = 0, variance = 0, census = true;
  for (const s of used) {
    const w = s.population / total, nh = s.sample.length;
    const p = s.sample.reduce<number>((sum, x) => sum + x, 0) / nh;
    estimate += w * p;
    const fpc = Math.max(0, 1 - nh / s.population);
    if (fpc > 0) census = false;
    // The sample variance s^2 = p (1 - p) nh / (nh - 1); one item says nothing of its spread.
    if (nh > 1) variance += w * w * fpc * p * (1 - p) / (nh - 1);
  }
  const effectiveN = variance > 0 ? estimate * (1 - estimate) / variance : census ? Infinity : n;
  const interval = effectiveN === Infinity ? { lo: estimate, hi: estimate } : wilson(estimate * effectiveN, effectiveN);
  return { estimate, variance, n, effectiveN, ...interval };
}
