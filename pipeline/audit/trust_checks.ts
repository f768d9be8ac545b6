/**
 * Checks that the robustness numbers can be trusted (after Carlini et al. 2019, "On Evaluating
 * Adversarial Robustness", and AutoAttack's flags, Croce & Hein 2020), reported as warnings rather
 * than errors: an evaluation can be run, but its reader should know when an attack looks broken or
 * the model hides its gradients. `trustWarnings` looks at the curves; `trustFlags` at per-image
 * evidence (trust_probe.ts, the raw FGSM sweep, Square against the white-box attacks), and each
 * flag names the images it is based on.
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
  /** More than this share with a near-zero gradient (trust_probe.ts) is flagged. */
  nearZeroGradientShare: 0.01,
  /** More than this share of images with probability-like outputs is flagged as a softmax output. */
  probabilityShare: 0.5,
  /** The raw FGSM accuracy rising by more than this share from one epsilon to the next is flagged. */
  monotoneSlack: 0.01,
});

/** The per-image checks. */
export type TrustCheck =
  | "near-zero-gradient"
  | "randomised"
  | "softmax-output"
  | "fgsm-not-monotone"
  | "square-beats-white-box";

/** A check that fired, and the images (data indices, ascending, at most FLAG_IMAGES of them) it is based on. */
export interface TrustFlag {
  check: TrustCheck;
  /** Images that show it (all of them, not only those listed). */
  count: number;
  images: number[];
  message: string;
}

/** Images a flag lists at most. */
export const FLAG_IMAGES = 100;

/** The per-image evidence, as data indices. */
export interface FlagInput {
  count: number;
  epsilons: readonly number[];
  nearZeroGradient: readonly number[];
  unstableLogits: readonly number[];
  probabilityOutputs: readonly number[];
  /** The raw FGSM curve; null when not kept. */
  fgsmRaw: readonly CurveStats[] | null;
  /** unflipped[j]: images the raw FGSM flipped at epsilons[j] and not at epsilons[j + 1]. */
  unflipped: readonly (readonly number[])[];
  /** squareOnly[j]: images Square flipped at epsilons[j] that the white-box attacks did not; null without Square. */
  squareOnly: readonly (readonly number[])[] | null;
}

/** The per-image checks that fired. */
export function trustFlags(input: FlagInput): TrustFlag[] {
  const t = TRUST_THRESHOLDS;
  const flags: TrustFlag[] = [];
  const flag = (check: TrustCheck, images: readonly number[], cause: string) => {
    const sorted = [...new Set(images)].sort((a, b) => a - b);
    const listed = sorted.slice(0, FLAG_IMAGES);
    const shown = sorted.slice(0, 10).join(", ") + (sorted.length > 10 ? `, ... (${sorted.length} in all)` : "");
    flags.push({ check, count: sorted.length, images: listed, message: `${cause} (images ${shown})` });
  };
  const share = (k: number) => (input.count > 0 ? k / input.count : 0);
  const near = input.nearZeroGradient.length;
  if (share(near) > t.nearZeroGradientShare) {
    flag(
      "near-zero-gradient",
      input.nearZeroGradient,
      `${near} of ${input.count} images have an input gradient near zero relative to their loss: ` +
        `gradient masking or saturation; gradient attacks cannot move them (see Square, a black-box attack)`,
    );
  }
  if (input.unstableLogits.length > 0) {
    flag(
      "randomised",
      input.unstableLogits,
      `${input.unstableLogits.length} images got different logits from two identical forward passes: ` +
        `a randomised model; evaluate it with an attack that averages over the randomness (EoT)`,
    );
  }
  if (share(input.probabilityOutputs.length) > t.probabilityShare) {
    flag(
      "softmax-output",
      input.probabilityOutputs,
      `the outputs of ${input.probabilityOutputs.length} of ${input.count} images are in [0, 1] and sum to 1: ` +
        `the model seems to end in a softmax, whose saturation masks gradients; attack its logits`,
    );
  }
  const raw = input.fgsmRaw ?? [];
  const rises = raw.flatMap((p, j) => (j > 0 && p.accuracy > raw[j - 1].accuracy + t.monotoneSlack ? [j] : []));
  if (rises.length > 0) {
    const steps = rises.map((j) =>
      `${raw[j - 1].epsilon} -> ${raw[j].epsilon}: ${percent(raw[j - 1].accuracy)} -> ${percent(raw[j].accuracy)}`
    );
    flag(
      "fgsm-not-monotone",
      rises.flatMap((j) => input.unflipped[j - 1] ?? []),
      `the raw FGSM accuracy rises with epsilon (${steps.join("; ")}): the gradient at the clean image ` +
        `does not point where the loss rises, a sign of masked gradients`,
    );
  }
  const squareOnly = input.squareOnly?.flat() ?? [];
  if (squareOnly.length > 0) {
    const at = input.squareOnly!.flatMap((
      list,
      j,
    ) => (list.length > 0 ? [`${list.length} at ${input.epsilons[j]}`] : []));
    flag(
      "square-beats-white-box",
      squareOnly,
      `Square, a black-box attack, flipped images the white-box attacks could not (${at.join(", ")}): ` +
        `the gradients mislead the white-box attacks (gradient masking)`,
    );
  }
  return flags;
}

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
