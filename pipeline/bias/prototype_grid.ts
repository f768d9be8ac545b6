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
 * const png = await prototypeGridPng(report.classes.slice(0, 2), images, [1, 28, 28]);
 * await Deno.writeFile("docs/prototypes_digits.png", png);
 * ```
 */
import { gridPng, imageTile, overlayTile, type Tile } from "../explain/image_grid.ts";
import type { BiasClass } from "../schema/bias.ts";

/** PNG bytes of the prototype/criticism grid of `classes`; `images` returns NCHW images of example indices. */
export async function prototypeGridPng(
  classes: readonly BiasClass[],
  images: (indices: number[]) => Promise<Float32Array>,
  shape: readonly [number, number, number],
  options: { range?: readonly [number, number]; scale?: number; saliency?: boolean } = {},
): Promise<Uint8Array> {
  const per = shape[0] * shape[1] * shape[2];
  const rows: (Tile | null)[][] = [];
  for (const c of classes) {
    const indices = [...c.prototypes, ...c.criticisms].map((e) => e.index);
    const pixels = await images(indices);
    const tile = (i: number) => imageTile(pixels.subarray(i * per, (i + 1) * per), shape, options.range);
    const row: (Tile | null)[] = c.prototypes.map((_, i) => tile(i));
    row.push(null, ...c.criticisms.map((_, i) => tile(c.prototypes.length + i)));
    if (options.saliency && c.meanPrototypeSaliency && c.prototypes.length > 0) {
      row.push(null, overlayTile(pixels.subarray(0, per), shape, c.meanPrototypeSaliency.values, options.range));
    }
    rows.push(row);
  }
  return gridPng(rows, { scale: options.scale ?? 2 });
}
