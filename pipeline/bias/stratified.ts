/**
 * Stratified 2x2 tables (Cochran-Mantel-Haenszel): one table per true label, group vs the other
 * groups by "predicted as the class or not". Pooling over labels lets the mix of labels in each
 * group stand in for a bias; stratifying compares the groups label by label.
 *
 * The p-value is the exact conditional test of a common odds ratio of 1 against > 1 (the exact form
 * of the CMH test, as R's `mantelhaen.test(exact = TRUE, alternative = "greater")`): with every
 * table's margins fixed, each table's count a_l is hypergeometric and the statistic sum_l a_l is
 * their sum, whose distribution is the convolution of the tables' distributions. The effect sizes
 * are the Mantel-Haenszel estimates of the common rate ratio and odds ratio.
 *
 * @example
 * ```ts
 * // Two labels: the group 6 of 10 and 4 of 10 into the class, the rest 1 of 10 and 0 of 10.
 * const strata = [{ a: 6, n1: 10, n0: 10, m: 7 }, { a: 4, n1: 10, n0: 10, m: 4 }];
 * exactStratifiedGreater(strata); // ~3e-5
 * mantelHaenszelRateRatio(strata); // 10
 * ```
 */
import { logChoose } from "./fisher.ts";

/** One stratum: the group's `a` of `n1` images predicted as the class, of `m` such among `n1 + n0`. */
export interface Stratum {
  a: number;
  n1: number;
  n0: number;
  m: number;
}

/** The hypergeometric distribution of a stratum's `a` given its margins, from its lowest value. */
function stratumDistribution(s: Stratum): { low: number; pmf: Float64Array } {
  const n = s.n1 + s.n0;
  const low = Math.max(0, s.m - s.n0), high = Math.min(s.n1, s.m);
  const logs = Array.from(
    { length: high - low + 1 },
    (_, i) => logChoose(s.n1, low + i) + logChoose(s.n0, s.m - low - i) - logChoose(n, s.m),
  );
  const top = Math.max(...logs);
  const pmf = Float64Array.from(logs, (l) => Math.exp(l - top));
  const total = pmf.reduce((t, v) => t + v, 0);
  return { low, pmf: pmf.map((v) => v / total) };
}

/** P(sum_l A_l >= sum_l a_l) with each stratum's margins fixed: the exact one-sided stratified p-value. */
export function exactStratifiedGreater(strata: readonly Stratum[]): number {
  let low = 0, observed = 0;
  let pmf = Float64Array.of(1);
  for (const s of strata) {
    observed += s.a;
    const d = stratumDistribution(s);
    low += d.low;
    if (d.pmf.length === 1) continue;
    const next = new Float64Array(pmf.length + d.pmf.length - 1);
    for (let i = 0; i < pmf.length; i++) {
      if (pmf[i] === 0) continue;
      for (let j = 0; j < d.pmf.length; j++) next[i + j] += pmf[i] * d.pmf[j];
    }
    pmf = next;
  }
  let tail = 0;
  for (let k = Math.max(0, observed - low); k < pmf.length; k++) tail += pmf[k];
  return Math.min(1, tail);
}

/** The Mantel-Haenszel common rate ratio, sum a n0 / N over sum c n1 / N (c = m - a); null when the rest has none. */
export function mantelHaenszelRateRatio(strata: readonly Stratum[]): number | null {
  let top = 0, bottom = 0;
  for (const { a, n1, n0, m } of strata) {
    const n = n1 + n0;
    if (n === 0) continue;
    top += (a * n0) / n;
    bottom += ((m - a) * n1) / n;
  }
  return bottom > 0 ? top / bottom : null;
}

/** The Mantel-Haenszel common odds ratio, sum a d / N over sum b c / N; null when the bottom is 0. */
export function mantelHaenszelOddsRatio(strata: readonly Stratum[]): number | null {
  let top = 0, bottom = 0;
  for (const { a, n1, n0, m } of strata) {
    const n = n1 + n0;
    if (n === 0) continue;
    const b = n1 - a, c = m - a, d = n0 - c;
    top += (a * d) / n;
    bottom += (b * c) / n;
  }
  return bottom > 0 ? top / bottom : null;
}
