/**
 * The explanations door: gradient saliency maps (vanilla, gradient x input, SmoothGrad,
 * Integrated Gradients), Grad-CAM, Grad-CAM++ and occlusion, their sanity checks (cascading randomisation), the model's features of
 * every image, rank correlation, and images (overlays, grids fitted to the page, PNG or JPEG).
 *
 * @example
 * ```ts
 * import type { Executor } from "../model/executor.ts";
 * declare const exec: Executor, images: Float32Array, count: number;
 * const { maps } = await computeSaliency(exec, images, count, { method: "smoothGrad", samples: 25 });
 * const sanity = await cascadingRandomization(exec, images, count, { methods: ["gradient"] });
 * ```
 */
export {
  collectFeatures,
  defaultFeatureNode,
  type FeatureBatch,
  type FeatureOptions,
  featureRows,
  type FeatureTable,
  streamFeatures,
} from "./features.ts";
export { type EncodedPicture, gridPicture, imageTile, overlayTile, PHOTO_SIDE, type Tile } from "./image_grid.ts";
export { fitTile } from "./fit_tile.ts";
export { camLayerProblem, lastSpatialLayer } from "./cam.ts";
export { occlusionGeometry } from "./occlusion.ts";
export { averageRanks, pearson, spearman } from "./rank.ts";
export {
  computeSaliency,
  DEFAULT_SALIENCY_BUDGET,
  SALIENCY_METHODS,
  type SaliencyMethod,
  saliencyMethodsFor,
  type SaliencyOptions,
  type SaliencyResult,
} from "./saliency.ts";
export { sanityFigure } from "./sanity_figure.ts";
export {
  cascadingRandomization,
  randomisedLayers,
  type SanityOptions,
  type SanityReport,
  type SanityStage,
} from "./sanity.ts";
