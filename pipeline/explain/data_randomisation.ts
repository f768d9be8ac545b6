/**
 * The data randomisation test (Adebayo et al. 2018, section 5): each method's maps of the audited
 * model against its maps of a model of the same input and classes trained on shuffled labels
 * (`deno task train --shuffle-labels`). That model learned no relation between images and labels,
 * only to memorise its training set, so a method whose maps look the same for both does not
 * explain what the audited model learned from its labels. Both models explain the audited model's
 * predicted class (the shuffled model's own prediction is arbitrary), as the parameter
 * randomisation tests do.
 *
 * @example
 * ```ts
 * import type { Executor } from "../model/executor.ts";
 * import { cascadingRandomization } from "./sanity.ts";
 * declare const exec: Executor, shuffled: Executor, images: Float32Array;
 * const checks = await cascadingRandomization(exec, images, 4);
 * const data = await dataRandomization(shuffled, images, 4, checks.original);
 * ```
 */
import type { Executor } from "../model/executor.ts";
import { InputError } from "../io/input_error.ts";
import { mapSimilarity, type Similarity } from "./map_similarity.ts";
import { computeSaliency, type SaliencyMethod, type SaliencyOptions, type SaliencyResult } from "./saliency.ts";

/** Each method's similarity per image, and (when kept) the random-label model's maps. */
export type DataRandomization = { method: SaliencyMethod; similarity: Similarity[]; maps?: Float32Array }[];

/**
 * Maps of the random-label model `shuffled` for the images of `original` (the audited model's
 * channel-sum maps per method), compared with them.
 */
export async function dataRandomization(
  shuffled: Executor,
  images: Float32Array,
  count: number,
  original: ReadonlyMap<SaliencyMethod, SaliencyResult>,
  options: Omit<SaliencyOptions, "method" | "targets" | "reduce"> & { keepMaps?: boolean } = {},
): Promise<DataRandomization> {
  const out: DataRandomization = [];
  for (const [method, before] of original) {
    const [, height, width] = before.shape;
    const classes = shuffled.outputShape(1)[1];
    const target = before.targets.find((t) => t >= classes);
    if (target !== undefined) throw new InputError(`sanity: the random-label model has no class ${target}`);
    const after = await computeSaliency(shuffled, images, count, {
      ...options,
      method,
      targets: before.targets,
      reduce: "sum",
    });
    out.push({
      method,
      similarity: mapSimilarity(before.maps, after.maps, count, height, width),
      maps: options.keepMaps ? after.maps : undefined,
    });
  }
  return out;
}
