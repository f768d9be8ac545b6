/**
 * Plain accuracy statistics over predictions: confusion matrix, per-class accuracy and
 * calibration (reliability bins and expected calibration error). Pure functions of the numbers.
 *
 * @example
 * ```ts
 * confusionMatrix([0, 1, 1], [0, 0, 1], 2); // [[1, 0], [1, 1]]
 * calibration([0.9, 0.6], [true, false], 15).ece; // (0.1 + 0.6) / 2
 * ```
 */

/** Number of equal-width confidence bins the audit reports (Guo et al. 2017 use 15). */
export const CALIBRATION_BINS = 15;

/** counts[label][prediction]: rows are true classes, columns predicted classes. */
export function confusionMatrix(
  labels: ArrayLike<number>,
  predictions: ArrayLike<number>,
  classes: number,
): number[][] {
  const matrix = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  for (let i = 0; i < labels.length; i++) matrix[labels[i]][predictions[i]]++;
  return matrix;
}

/** One class's share of correct top-1 predictions; `accuracy` is null when the class has no example. */
export interface ClassAccuracy {
  label: number;
  name: string;
  count: number;
  correct: number;
  accuracy: number | null;
}

/** Per-class counts and accuracy, read off a confusion matrix. */
export function perClassAccuracy(confusion: number[][], names: readonly string[]): ClassAccuracy[] {
  return confusion.map((row, label) => {
    const count = row.reduce((a, b) => a + b, 0);
    const correct = row[label];
    return { label, name: names[label] ?? String(label), count, correct, accuracy: count > 0 ? correct / count : null };
  });
}

/** One reliability bin: confidences in [lo, hi) (the last bin includes 1). */
export interface CalibrationBin {
  lo: number;
  hi: number;
  count: number;
  /** Share of correct predictions in the bin; null when empty. */
  accuracy: number | null;
  /** Mean confidence in the bin; null when empty. */
  confidence: number | null;
}

/**
 * Reliability bins and the expected calibration error: the count-weighted mean over equal-width
 * bins of |accuracy - mean confidence| (Naeini et al. 2015). `confidences` are top-1 probabilities.
 */
export function calibration(
  confidences: ArrayLike<number>,
  correct: ArrayLike<boolean>,
  bins = CALIBRATION_BINS,
): { ece: number; bins: CalibrationBin[] } {
  const count = new Array<number>(bins).fill(0);
  const hits = new Array<number>(bins).fill(0);
  const sums = new Array<number>(bins).fill(0);
  for (let i = 0; i < confidences.length; i++) {
    const b = Math.min(bins - 1, Math.max(0, Math.floor(confidences[i] * bins)));
    count[b]++;
    sums[b] += confidences[i];
    if (correct[i]) hits[b]++;
  }
  const n = confidences.length;
  let ece = 0;
  const table = count.map((c, b) => {
    if (c > 0) ece += (c / n) * Math.abs(hits[b] / c - sums[b] / c);
    return {
      lo: b / bins,
      hi: (b + 1) / bins,
      count: c,
      accuracy: c > 0 ? hits[b] / c : null,
      confidence: c > 0 ? sums[b] / c : null,
    };
  });
  return { ece, bins: table };
}
