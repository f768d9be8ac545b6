/**
 * The mistake taxonomy (Stock & Cisse 2018, section 3): for each misclassified image, whether the
 * label is still in the top-5, whether the prediction is in the label's superclass, whether the
 * image is ambiguous (low margin), and, given multi-label truth (ImageNet-ReaL), whether the
 * prediction is another object in the image (one of its valid labels); and a rectified top-1 that
 * forgives the mistakes a human would accept.
 *
 * @example
 * ```ts
 * import type { Hierarchy } from "../model/hierarchy.ts";
 * import type { ImagePrediction } from "./evaluate.ts";
 * declare const predictions: ImagePrediction[], hierarchy: Hierarchy;
 * const mistakes = classifyMistakes(predictions, hierarchy, { depth: 1 });
 * const judgments = new Map([[17, "label is wrong" as const]]);
 * const rectified = rectifiedTop1(predictions, hierarchy, { depth: 1, judgments });
 * ```
 */
import type { RealLabels } from "../data/real_labels.ts";
import type { Hierarchy } from "../model/hierarchy.ts";
import type { Judgments } from "../schema/review.ts";
import { confidenceOf, type ImagePrediction, isCorrect, marginOf } from "./evaluate.ts";

/** Margins (top-1 minus top-2 probability) below this mark an image as ambiguous by default. */
export const LOW_MARGIN = 0.1;

export interface TaxonomyOptions {
  /** Superclass depth for "same superclass" (1 = the root's children). */
  depth: number;
  /** Margin threshold of "low margin" (default 0.1). */
  lowMargin?: number;
  /** Each image's valid labels by data index (ImageNet-ReaL); without them "other object" is not judged. */
  real?: RealLabels;
}

/** One misclassified image and its place in the taxonomy. */
export interface MistakeItem {
  index: number;
  label: number;
  predicted: number;
  top: number[];
  confidence: number;
  margin: number;
  labelInTop5: boolean;
  sameSuperclass: boolean;
  lowMargin: boolean;
  /** Hierarchy distance (tree path length) from the label to the prediction. */
  distance: number;
  /** The prediction is one of the image's valid labels: another object in it (only given real labels). */
  otherObject?: boolean;
}

/** Counts of each kind of mistake (a mistake may be of several kinds, or none). */
export interface MistakeCounts {
  total: number;
  labelInTop5: number;
  sameSuperclass: number;
  lowMargin: number;
  /** Predictions that are another object in the image (only given real labels). */
  otherObject?: number;
  /** Mistakes of none of the kinds above: plainly wrong. */
  unexplained: number;
}

/** Places every misclassified image in the taxonomy, in the predictions' order. */
export function classifyMistakes(
  predictions: readonly ImagePrediction[],
  hierarchy: Hierarchy,
  options: TaxonomyOptions,
): { items: MistakeItem[]; counts: MistakeCounts } {
  const threshold = options.lowMargin ?? LOW_MARGIN;
  const { real } = options;
  const items = predictions.filter((p) => !isCorrect(p)).map((p): MistakeItem => {
    const predicted = p.top[0];
    return {
      index: p.index,
      label: p.label,
      predicted,
      top: p.top,
      confidence: confidenceOf(p),
      margin: marginOf(p),
      labelInTop5: p.top.includes(p.label),
      sameSuperclass: hierarchy.sameSuperclass(p.label, predicted, options.depth),
      lowMargin: marginOf(p) < threshold,
      distance: hierarchy.distance(p.label, predicted),
      ...(real ? { otherObject: real[p.index].includes(predicted) } : {}),
    };
  });
  const count = (f: (m: MistakeItem) => boolean) => items.filter(f).length;
  return {
    items,
    counts: {
      total: items.length,
      labelInTop5: count((m) => m.labelInTop5),
      sameSuperclass: count((m) => m.sameSuperclass),
      lowMargin: count((m) => m.lowMargin),
      ...(real ? { otherObject: count((m) => m.otherObject === true) } : {}),
      unexplained: count((m) => !m.labelInTop5 && !m.sameSuperclass && !m.lowMargin && !m.otherObject),
    },
  };
}

export interface RectifyOptions {
  /** Superclass depth at which a mistake is acceptable without a judgment. */
  depth: number;
  /** Human judgments by example index; they apply to mistakes only and override the superclass rule. */
  judgments?: Judgments;
}

/**
 * Top-1 accuracy counting acceptable mistakes as right. A mistake is acceptable when judged
 * "acceptable", or, without a judgment, when the prediction is in the label's superclass at
 * `depth`. "not acceptable" keeps it a mistake even inside the superclass. "label is wrong" leaves
 * the image out of the count altogether: it has no ground truth to be right or wrong against.
 * Never below plain top-1 (only mistakes are forgiven or left out). 0 for no images.
 */
export function rectifiedTop1(
  predictions: readonly ImagePrediction[],
  hierarchy: Hierarchy,
  options: RectifyOptions,
): number {
  let right = 0, counted = 0;
  for (const p of predictions) {
    if (isCorrect(p)) {
      right++;
      counted++;
      continue;
    }
    const judgment = options.judgments?.get(p.index);
    if (judgment === "label is wrong") continue;
    counted++;
    const acceptable = judgment === undefined
      ? hierarchy.sameSuperclass(p.label, p.top[0], options.depth)
      : judgment === "acceptable";
    if (acceptable) right++;
  }
  return counted > 0 ? right / counted : 0;
}
