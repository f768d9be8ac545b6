/**
 * Integrated Gradients' completeness gap (Sundararajan et al. 2017, axiom 1): IG's attributions
 * should sum to f(x) - f(baseline), the change of the explained logit along the path. The Riemann
 * sum over `steps` points misses the kinks of a ReLU network, so the sum is off by a gap that
 * shrinks as steps grow; the gap per image says how far one IG map can be trusted to account for
 * the prediction.
 *
 * @example
 * ```ts
 * import type { Executor } from "../model/executor.ts";
 * import { computeSaliency } from "./saliency.ts";
 * declare const exec: Executor, images: Float32Array;
 * const ig = await computeSaliency(exec, images, 4, { method: "integratedGradients", reduce: "sum" });
 * for (const gap of completenessGaps(ig)) console.log(gap.gap, gap.relativeGap);
 * ```
 */
import type { SaliencyResult } from "./saliency.ts";

/** One image's completeness: its attributions' sum against f(x) - f(baseline). */
export interface CompletenessGap {
  /** Sum of the attributions over channels and pixels. */
  attributionSum: number;
  /** f(x) - f(baseline) of the explained logit. */
  scoreDifference: number;
  /** attributionSum - scoreDifference. */
  gap: number;
  /** |gap| / |scoreDifference| (null where f(x) = f(baseline)). */
  relativeGap: number | null;
}

/**
 * The gap of each image of an IG result whose maps are channel sums (reduce "sum": a map's pixels
 * then add up to the image's attributions' sum).
 */
export function completenessGaps(ig: Pick<SaliencyResult, "maps" | "shape" | "scores" | "baselineScores">) {
  if (!ig.baselineScores) throw new Error("completeness: not an Integrated Gradients result (no baseline scores)");
  const [count, height, width] = ig.shape;
  const plane = height * width;
  return Array.from({ length: count }, (_, b): CompletenessGap => {
    let attributionSum = 0;
    for (let i = b * plane; i < (b + 1) * plane; i++) attributionSum += ig.maps[i];
    const scoreDifference = ig.scores[b] - ig.baselineScores![b];
    const gap = attributionSum - scoreDifference;
    return {
      attributionSum,
      scoreDifference,
      gap,
      relativeGap: scoreDifference === 0 ? null : Math.abs(gap) / Math.abs(scoreDifference),
    };
  });
}
