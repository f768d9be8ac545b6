/**
 * The sanity-check figure: for one image, a row per saliency method, each map overlaid on the
 * image: the trained model's, then each stage of the cascade (layers randomised from the top),
 * then (when given) each layer randomised alone, then (when given) the random-label model's. Maps
 * that still look like the first column once the model is randomised do not depend on what the
 * model learned.
 *
 * @example
 * ```ts
 * import type { Executor } from "../model/executor.ts";
 * import { cascadingRandomization } from "./sanity.ts";
 * declare const exec: Executor, image: Float32Array; // one [1, 28, 28] image
 * const report = await cascadingRandomization(exec, image, 1, { keepMaps: true });
 * const { format, bytes } = sanityFigure(report, image, [1, 28, 28]);
 * await Deno.writeFile(`docs/sanity.${format}`, bytes);
 * ```
 */
import type { DataRandomization } from "./data_randomisation.ts";
import { type EncodedPicture, gridPicture, imageTile, overlayTile, type Tile } from "./image_grid.ts";
import type { SanityReport } from "./sanity.ts";

/** The side of each of the figure's maps in pixels: 28 px digits drawn x3, 224 px photos a third (75 px). */
const SANITY_CELL = 84;

/** What the figure draws: the cascade, and optionally the independent stages and the random-label model's maps. */
export type SanityFigureInput = SanityReport & {
  independent?: SanityReport["methods"];
  data?: DataRandomization | null;
};

/** The figure for image `which` of the report's images (the report must keep its maps), PNG or, for photographs, JPEG. */
export function sanityFigure(
  report: SanityFigureInput,
  image: Float32Array,
  shape: readonly [number, number, number],
  options: { which?: number; range?: readonly [number, number] } = {},
): EncodedPicture {
  const [c, h, w] = shape;
  const which = options.which ?? 0;
  const pixels = image.subarray(which * c * h * w, (which + 1) * c * h * w);
  const tile = (method: string, maps: Float32Array | undefined) => {
    if (!maps) throw new Error(`sanity figure: ${method} kept no maps (run with keepMaps)`);
    return overlayTile(pixels, shape, maps.subarray(which * h * w, (which + 1) * h * w), options.range);
  };
  const rows: Tile[][] = report.methods.map(({ method, stages }) => {
    const independent = report.independent?.find((m) => m.method === method)?.stages ?? [];
    const data = report.data?.find((m) => m.method === method);
    return [
      ...[...stages, ...independent].map((stage) => tile(method, stage.maps)),
      ...(data ? [tile(method, data.maps)] : []),
    ];
  });
  rows.unshift([imageTile(pixels, shape, options.range)]);
  return gridPicture(rows, { cell: SANITY_CELL });
}
