/**
 * Accuracy against multi-label truth, as Beyer et al. 2020 define ReaL accuracy (the reference code
 * of github.com/google-research/reassessed-imagenet): over the images with at least one valid
 * label, the share whose top-1 prediction is one of them; top-5 counts an image right when any of
 * its top-5 is (as pytorch-image-models' RealLabelsImagenet does). Images with no valid label are
 * left out and counted as excluded.
 *
 * @example
 * ```ts
 * import type { ImagePrediction } from "./evaluate.ts";
 * declare const predictions: ImagePrediction[];
 * const real = realAccuracy(predictions, [[3], [], [1, 7]]);
 * console.log(real.top1, real.counted, real.excluded);
 * ```
 */
import type { RealLabels } from "../data/real_labels.ts";
import type { ImagePrediction } from "./evaluate.ts";

/** ReaL top-1 and top-5 (null when no image has a valid label), and the images counted and left out. */
export interface RealAccuracy {
  top1: number | null;
  top5: number | null;
  /** Images with at least one valid label. */
  counted: number;
  /** Images whose list is empty. */
  excluded: number;
}

/** ReaL accuracy of `predictions`; each image's valid labels are `real[prediction.index]`. */
export function realAccuracy(predictions: readonly ImagePrediction[], real: RealLabels): RealAccuracy {
  let counted = 0, right1 = 0, right5 = 0;
  for (const p of predictions) {
    const valid = real[p.index];
    if (valid.length === 0) continue;
    counted++;
    if (valid.includes(p.top[0])) right1++;
    if (p.top.some((c) => valid.includes(c))) right5++;
  }
  return {
    top1: counted > 0 ? right1 / counted : null,
    top5: counted > 0 ? right5 / counted : null,
    counted,
    excluded: predictions.length - counted,
  };
}
