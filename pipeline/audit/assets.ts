/**
 * The report's pictures: files under `OUT/assets/` (PNG, or JPEG for photographs; saliency maps
 * as PNG overlays of the map alone, drawn over their image), named by what they show, written
 * atomically; the report refers to them by report-relative path (see
 * schema/asset_path.ts).
 *
 * @example
 * ```ts
 * import { imageTile } from "../explain/image_grid.ts";
 * declare const pixels: Float32Array; // one [1, 28, 28] image
 * const assets = new AssetWriter("audit-report");
 * const path = await assets.tile("mistake-12", imageTile(pixels, [1, 28, 28])); // "assets/mistake-12.png"
 * ```
 */
import { join } from "node:path";
import { assetPath } from "../schema/asset_path.ts";
import { type EncodedPicture, gridPicture, heatPicture, type Tile } from "../explain/image_grid.ts";
import { writeAtomic } from "../io/files.ts";

/** The folder, inside the report folder, that holds the pictures. */
export const ASSETS_DIR = "assets";

/** The side of a single-tile asset in pixels: 28x28 digits become 112x112, 224x224 photos stay 112x112. */
const TILE_CELL = 112;

export class AssetWriter {
  #made = false;

  constructor(readonly reportDir: string) {}

  /** Writes an encoded picture as the asset `name` and returns its report-relative path (its extension the format's). */
  async picture(name: string, picture: EncodedPicture): Promise<string> {
    const path = assetPath(name, picture.format);
    if (!this.#made) {
      await Deno.mkdir(join(this.reportDir, ASSETS_DIR), { recursive: true });
      this.#made = true;
    }
    await writeAtomic(join(this.reportDir, path), picture.bytes);
    return path;
  }

  /** Writes one tile, fitted to the page, as the asset `name`. */
  tile(name: string, tile: Tile): Promise<string> {
    return this.picture(name, gridPicture([[tile]], { cell: TILE_CELL, gap: 0 }));
  }

  /**
   * Writes a `height` x `width` saliency map as the asset `name`: a compact PNG overlay of the map
   * alone (`heatPicture`), fitted as `tile` fits its image, which the pages draw it over.
   */
  overlay(name: string, map: ArrayLike<number>, height: number, width: number): Promise<string> {
    return this.picture(name, heatPicture(map, height, width, TILE_CELL));
  }
}
