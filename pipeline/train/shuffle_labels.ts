/**
 * Label randomisation for the data randomisation test (Adebayo et al. 2018, section 5): the
 * training labels permuted among the images by a seeded permutation, so the class counts are the
 * data's but no label says anything about its image. A model trained on them can only memorise;
 * saliency maps that look the same for it as for the model trained on the true labels do not
 * depend on the relation between images and labels.
 *
 * @example
 * ```ts
 * const shuffled = shuffledLabels(Int32Array.from([0, 1, 2, 3]), 1); // the same four labels, reordered
 * ```
 */
import { seededPermutation } from "../io/prng.ts";

/** Offset of the permutation's seed from the run's seed, so it is not the mini-batch order's stream. */
const LABEL_SEED_OFFSET = 0x5eed;

/** `labels` permuted by a permutation drawn from `seed` (a new array; the input is left as is). */
export function shuffledLabels(labels: Int32Array, seed: number): Int32Array {
  const order = seededPermutation(labels.length, (seed + LABEL_SEED_OFFSET) >>> 0);
  return Int32Array.from(order, (i) => labels[i]);
}
