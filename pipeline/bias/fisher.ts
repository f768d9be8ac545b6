/**
 * Fisher's exact test, one-sided: is a group's rate (k1 of n1) higher than the rest's (k2 of n2)?
 * The significance behind a bias `flagged` verdict: exact for any counts (rates of other labels
 * predicted into a class are often a handful of images), no normal approximation.
 *
 * @example
 * ```ts
 * fisherGreater(8, 10, 1, 10); // 0.0027: 8/10 vs 1/10 is unlikely under equal rates
 * ```
 */

/** log(n!) by summing logs for small n, Stirling's series beyond (error below 1e-10 there). */
function logFactorial(n: number): number {
  if (n < 64) {
    let s = 0;
    for (let i = 2; i <= n; i++) s += Math.log(i);
    return s;
  }
  const x = n + 1;
  return (x - 0.5) * Math.log(x) - x + 0.5 * Math.log(2 * Math.PI) + 1 / (12 * x) - 1 / (360 * x ** 3);
}

/** log of the binomial coefficient C(n, k). */
export function logChoose(n: number, k: number): number {
  return logFactorial(n) - logFactorial(k) - logFactorial(n - k);
}

/**
 * P(K1 >= k1) under the hypergeometric null (both rates equal, margins fixed): the one-sided
 * p-value that group 1's rate exceeds group 2's. Terms are summed in log space relative to the
 * largest (log-sum-exp), so tiny p-values do not underflow to 0 before they are below 1e-300.
 */
export function fisherGreater(k1: number, n1: number, k2: number, n2: number): number {
  const total = k1 + k2, n = n1 + n2;
  const hi = Math.min(n1, total);
  const logTerms: number[] = [];
  for (let k = k1; k <= hi; k++) {
    logTerms.push(logChoose(n1, k) + logChoose(n2, total - k) - logChoose(n, total));
  }
  if (logTerms.length === 0) return 0;
  const top = Math.max(...logTerms);
  const sum = logTerms.reduce((s, t) => s + Math.exp(t - top), 0);
  return Math.min(1, Math.exp(top) * sum);
}
