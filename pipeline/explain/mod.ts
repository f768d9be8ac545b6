/**
 * The explanations door: gradient saliency maps (vanilla, gradient x input, SmoothGrad,
 * Integrated Gradients), Grad-CAM, Grad-CAM++ and occlusion, their sanity checks (cascading and
 * independent parameter randomisation, data randomisation, four similarity measures, verdicts with
 * bootstrap intervals), IG's completeness gap, the model's features of every image, rank
 * correlation, and images (overlays, grids fitted to the page, PNG or JPEG).
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
export { sanityFigure, type SanityFigureInput } from "./sanity_figure.ts";
export {
  cascadingRandomization,
  DEFAULT_SANITY_STAGES,
  type MethodStages,
  type RandomisationStage,
  randomisedLayers,
  type SanityChecks,
  type SanityOptions,
  type SanityReport,
  type SanityStage,
  sanityStages,
} from "./sanity.ts";
export { bootstrapMean, type BootstrapOptions, type Interval, quantile } from "./bootstrap.ts";
export { type CompletenessGap, completenessGaps } from "./completeness.ts";
export { type DataRandomization, dataRandomization } from "./data_randomisation.ts";
export { hog, hogCell, type HogOptions, hogSimilarity } from "./hog.ts";
export {
  mapSimilarity,
  meanSimilarity,
  scaledAbsolute,
  type Similarity,
  similarity,
  SIMILARITY_MEASURES,
  type SimilarityMeasure,
} from "./map_similarity.ts";
export { ssim, ssimRadius } from "./ssim.ts";
export {
  type MeasureVerdict,
  SANITY_TESTS,
  SANITY_THRESHOLD,
  type SanityTest,
  type SanityVerdict,
  sanityVerdicts,
} from "./sanity_verdict.ts";
