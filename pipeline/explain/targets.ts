/**
 * The class each saliency map explains: the given target or the image's top logit, its score
 * (the logit, f(x)), and the one-hot rows that select it for backward. Shared by the gradient,
 * CAM and occlusion methods.
 *
 * @example
 * ```ts
 * const picked = { targets: new Int32Array(2), scores: new Float32Array(2) };
 * const targets = takeTargets(Float32Array.from([0, 3, 1, 5, 2, 0]), 2, 0, undefined, picked);
 * console.log([...targets], [...picked.scores]); // [1, 0] [3, 5]
 * const rows = oneHot(targets, 3, 1); // [0, 1, 0, 1, 0, 0]
 * ```
 */

/** Where `takeTargets` writes each image's class and score, indexed over the whole batch. */
export interface PickedTargets {
  targets: Int32Array;
  scores: Float32Array;
}

/** One-hot rows selecting each image's target logit, repeated for `copies` stacked copies of the batch. */
export function oneHot(targets: Int32Array, classes: number, copies: number): Float32Array {
  const out = new Float32Array(copies * targets.length * classes);
  for (let s = 0; s < copies; s++) {
    targets.forEach((t, b) => (out[(s * targets.length + b) * classes + t] = 1));
  }
  return out;
}

/** Reads logits and fills in targets (argmax unless given) and their scores for images start.. of the group. */
export function takeTargets(
  logits: Float32Array,
  n: number,
  start: number,
  given: ArrayLike<number> | undefined,
  result: PickedTargets,
): Int32Array {
  const classes = logits.length / n;
  const targets = new Int32Array(n);
  for (let b = 0; b < n; b++) {
    let best = 0;
    for (let k = 1; k < classes; k++) if (logits[b * classes + k] > logits[b * classes + best]) best = k;
    targets[b] = given ? given[start + b] : best;
    result.targets[start + b] = targets[b];
    result.scores[start + b] = logits[b * classes + targets[b]];
  }
  return targets;
}
