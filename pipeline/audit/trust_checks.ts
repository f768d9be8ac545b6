/**
 * Checks that the robustness numbers can be trusted (after Carlini et al. 2019, "On Evaluating
 * Adversarial Robustness"), reported as warnings rather than errors: an evaluation can be run, but
 * its reader should know when an attack looks broken or the model hides its gradients.
 *
 * @example
 * ```ts
 * const fgsm = [{ epsilon: 0.1, accuracy: 0.4, successRate: 0.5 }];
 * const pgd = [{ epsilon: 0.1, accuracy: 0.6, successRate: 0.25 }];
 * const input = { fgsm, pgd, chosen: pgd, chosenName: "PGD", rangeWidth: 1, zeroGradients: 3, count: 500 };
 * const warnings = trustWarnings(input);
 * // ["PGD is weaker than FGSM at epsilon 0.1 (accuracy 60.0% vs 40.0%): the iterative attack is failing (...)"]
 * ```
 */

/** The thresholds of the checks. */
export const TRUST_THRESHOLDS = Object.freeze({
  /** PGD accuracy above FGSM accuracy by more than this (a share) at one epsilon is suspicious. */
  pgdSlack: 0.01,
  /** Epsilons at least this share of the input range count as "very large"... */
  largeEpsilon: 0.25,
  /** ...and should flip at least this share of the correctly classified images. */
  nearTotalSuccess: 0.98,
  /** More than this share of images with an all-zero input gradient suggests gradient masking. */
  zeroGradientShare: 0.01,
});

/** What the checks look at: one accuracy-versus-epsilon point. */
export interface CurveStats {
  epsilon: number;
  accuracy: number;
  /** Share of correctly classified images the attack flipped; null when none was correct. */
  successRate: number | null;
}

export interface TrustInput {
  fgsm: readonly CurveStats[];
  /** Null when PGD was not run. */
  pgd: readonly CurveStats[] | null;
  /** The curve of the attack the report is about. */
  chosen: readonly CurveStats[];
  chosenName: string;
  rangeWidth: number;
  /** Images whose input gradient was exactly zero everywhere. */
  zeroGradients: number;
  count: number;
}

const percent = (v: number) => `${(100 * v).toFixed(1)}%`;

/** The warnings for a robustness evaluation; empty when every check passes. */
export function trustWarnings(input: TrustInput): string[] {
  const t = TRUST_THRESHOLDS;
  const warnings: string[] = [];
  for (const p of input.pgd ?? []) {
    const f = input.fgsm.find((q) => q.epsilon === p.epsilon);
    if (f && p.accuracy > f.accuracy + t.pgdSlack) {
      warnings.push(
        `PGD is weaker than FGSM at epsilon ${p.epsilon} (accuracy ${percent(p.accuracy)} vs ${
          percent(f.accuracy)
        }): ` +
          `the iterative attack is failing (too few or too small steps, or masked gradients)`,
      );
    }
  }
  const largest = input.chosen.at(-1);
  if (
    largest && largest.epsilon >= t.largeEpsilon * input.rangeWidth && largest.successRate !== null &&
    largest.successRate < t.nearTotalSuccess
  ) {
    warnings.push(
      `${input.chosenName} at the largest epsilon ${largest.epsilon} flips only ${percent(largest.successRate)} of ` +
        `correctly classified images; an epsilon this large should flip nearly all (weak attack or gradient masking?)`,
    );
  }
  if (input.count > 0 && input.zeroGradients / input.count > t.zeroGradientShare) {
    warnings.push(
      `${input.zeroGradients} of ${input.count} images (${percent(input.zeroGradients / input.count)}) have an ` +
        `all-zero input gradient: gradient-based attacks cannot move them (possible gradient masking or saturation)`,
    );
  }
  return warnings;
}
