/**
 * The sanity-check figure: for one image, a row per saliency method and a column per stage of the
 * cascade (trained model first, then each layer randomised from the top), each map overlaid on the
 * image. Maps that still look like the first column after the top layers are randomised do not
 * depend on what the model learned.
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
import { type EncodedPicture, gridPicture, imageTile, overlayTile, type Tile } from "./image_grid.ts";
import type { SanityReport } from "./sanity.ts";

/** The side of each of the figure's maps in pixels: 28 px digits drawn x3, 224 px photos a third (75 px). */
const SANITY_CELL = 84;

/** The figure for image `which` of the report's images (the report must keep its maps), PNG or, for photographs, JPEG. */
export function sanityFigure(
  report: SanityReport,
  image: Float32Array,
  shape: readonly [number, number, number],
  options: { which?: number; range?: readonly [number, number] } = {},
): EncodedPicture {
  const [c, h, w] = shape;
  const which = options.which ?? 0;
  const pixels = image.subarray(which * c * h * w, (which + 1) * c * h * w);
  const rows: Tile[][] = report.methods.map(({ method, stages }) =>
    stages.map((stage) => {
      if (!stage.maps) throw new Error(`sanity figure: ${method} kept no maps (run with keepMaps)`);
      return overlayTile(pixels, shape, stage.maps.subarray(which * h * w, (which + 1) * h * w), options.range);
    })
  );
  rows.unshift([imageTile(pixels, shape, options.range)]);
  return gridPicture(rows, { cell: SANITY_CELL });
}
