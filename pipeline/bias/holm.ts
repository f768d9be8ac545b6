/**
 * Holm's step-down adjustment (Holm 1979) of a family of p-values: the adjusted p of the k-th
 * smallest is max over j <= k of min(1, (m - j + 1) p_(j)). It controls the family-wise error
 * rate under any dependence between the tests (the bias tests share images: a group diverted into
 * one class is, by the same images, less often in every other), and rejects everything
 * Bonferroni rejects and more. Benjamini-Hochberg would need positive dependence to hold.
 *
 * @example
 * ```ts
 * holmAdjust([0.01, 0.04, 0.03]); // [0.03, 0.06, 0.06]
 * ```
 */

/** Holm-adjusted p-values, in the order given. */
export function holmAdjust(pValues: readonly number[]): number[] {
  const m = pValues.length;
  const order = [...pValues.keys()].sort((i, j) => pValues[i] - pValues[j]);
  const adjusted = new Array<number>(m);
  let running = 0;
  order.forEach((i, rank) => {
    running = Math.max(running, Math.min(1, (m - rank) * pValues[i]));
    adjusted[i] = running;
  });
  return adjusted;
}
