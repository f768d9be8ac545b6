/**
 * The report's pictures: PNG files under `OUT/assets/`, named by what they show, written
 * atomically; the report refers to them by report-relative path (see schema/asset_path.ts).
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
import { gridPng, type Tile } from "../explain/image_grid.ts";
import { writeAtomic } from "../io/files.ts";

/** The folder, inside the report folder, that holds the pictures. */
export const ASSETS_DIR = "assets";

/** Pixels per image pixel of a single-tile asset: 28x28 digits become 112x112. */
const TILE_SCALE = 4;

export class AssetWriter {
  #made = false;

  constructor(readonly reportDir: string) {}

  /** Writes PNG bytes as the asset `name` and returns its report-relative path. */
  async png(name: string, bytes: Uint8Array): Promise<string> {
    const path = assetPath(name);
    if (!this.#made) {
      await Deno.mkdir(join(this.reportDir, ASSETS_DIR), { recursive: true });
      this.#made = true;
    }
    await writeAtomic(join(this.reportDir, path), bytes);
    return path;
  }

  /** Writes one tile, enlarged, as the asset `name`. */
  tile(name: string, tile: Tile): Promise<string> {
    return this.png(name, gridPng([[tile]], { scale: TILE_SCALE, gap: 0 }));
  }
}
