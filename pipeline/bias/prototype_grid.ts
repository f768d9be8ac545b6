/**
 * The picture of a class's MMD-critic result: one row per class, its prototypes, a blank cell,
 * then its criticisms; optionally the mean prototype saliency as an overlay on the first
 * prototype at the end of the row.
 *
 * @example
 * ```ts
 * import type { BiasReport } from "../schema/bias.ts";
 * declare const report: BiasReport;
 * declare function images(indices: number[]): Promise<Float32Array>; // the source's images, NCHW
 * const { format, bytes } = await prototypeGrid(report.classes.slice(0, 2), images, [1, 28, 28]);
 * await Deno.writeFile(`docs/prototypes_digits.${format}`, bytes);
 * ```
 */
import { type EncodedPicture, gridPicture, imageTile, overlayTile, type Tile } from "../explain/image_grid.ts";
import type { BiasClass } from "../schema/bias.ts";

/** A grid thumbnail's side in pixels: 28 px digits drawn x2, 224 px photos reduced to a quarter. */
export const GRID_CELL = 56;

/**
 * The prototype/criticism grid of `classes` (PNG, or JPEG for photographs); `images` returns NCHW
 * images of example indices; each thumbnail fits a `cell`-pixel square (`GRID_CELL` unless given).
 */
export async function prototypeGrid(
  classes: readonly Pick<BiasClass, "prototypes" | "criticisms" | "meanPrototypeSaliency">[],
  images: (indices: number[]) => Promise<Float32Array>,
  shape: readonly [number, number, number],
  options: { range?: readonly [number, number]; cell?: number; saliency?: boolean } = {},
): Promise<EncodedPicture> {
  const per = shape[0] * shape[1] * shape[2];
  const rows: (Tile | null)[][] = [];
  for (const c of classes) {
    const indices = [...c.prototypes, ...c.criticisms].map((e) => e.index);
    const pixels = await images(indices);
    const tile = (i: number) => imageTile(pixels.subarray(i * per, (i + 1) * per), shape, options.range);
    const row: (Tile | null)[] = c.prototypes.map((_, i) => tile(i));
    row.push(null, ...c.criticisms.map((_, i) => tile(c.prototypes.length + i)));
    if (options.saliency && c.meanPrototypeSaliency && c.prototypes.length > 0) {
      const map = c.meanPrototypeSaliency;
      row.push(null, overlayTile(pixels.subarray(0, per), shape, map.values, options.range, map));
    }
    rows.push(row);
  }
  return gridPicture(rows, { cell: options.cell ?? GRID_CELL });
}
