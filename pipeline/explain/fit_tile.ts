/**
 * Sizing a tile for the page: each kind of picture has a display cell (its target side in pixels),
 * and a tile is scaled by a whole factor towards it. A smaller tile is enlarged by
 * `floor(cell / side)`, each pixel a block (nearest: a 28 px digit stays crisp); a larger one is
 * reduced by `ceil(side / cell)`, each output pixel the mean of the block it covers (a 224 px photo
 * in a 56 px cell becomes 56 px, not 448). `side` is the tile's longer side; whole factors keep
 * pixels square and the result at most the cell.
 *
 * @example
 * ```ts
 * import type { Tile } from "./image_grid.ts";
 * declare const digit: Tile, photo: Tile; // 28x28 and 224x224
 * fitTile(digit, 112).width; // 112: x4
 * fitTile(photo, 56).width; // 56: the mean of each 4x4 block
 * ```
 */
import type { Tile } from "./image_grid.ts";

/** The whole factors by which a tile of longer side `side` is enlarged (`up`) or reduced (`down`) into `cell`. */
function fitFactor(side: number, cell: number): { up: number; down: number } {
  if (!(cell >= 1)) throw new Error(`fit tile: cell ${cell} is not a positive size`);
  return side <= cell ? { up: Math.floor(cell / side), down: 1 } : { up: 1, down: Math.ceil(side / cell) };
}

/** `tile` scaled by a whole factor to fit a `cell`-pixel square (see the module's comment). */
export function fitTile(tile: Tile, cell: number): Tile {
  const { up, down } = fitFactor(Math.max(tile.height, tile.width), cell);
  if (up === 1 && down === 1) return tile;
  return up > 1 ? enlarge(tile, up) : reduce(tile, down);
}

/** Each pixel as a `factor` x `factor` block. */
function enlarge(tile: Tile, factor: number): Tile {
  const height = tile.height * factor, width = tile.width * factor;
  const rgb = new Uint8Array(height * width * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const from = (Math.floor(y / factor) * tile.width + Math.floor(x / factor)) * 3;
      rgb.set(tile.rgb.subarray(from, from + 3), (y * width + x) * 3);
    }
  }
  return { height, width, rgb };
}

/** Each `factor` x `factor` block as its mean; blocks cut by the right or bottom edge average the pixels they hold. */
function reduce(tile: Tile, factor: number): Tile {
  const height = Math.ceil(tile.height / factor), width = Math.ceil(tile.width / factor);
  const rgb = new Uint8Array(height * width * 3);
  for (let y = 0; y < height; y++) {
    const y1 = Math.min(tile.height, (y + 1) * factor);
    for (let x = 0; x < width; x++) {
      const x1 = Math.min(tile.width, (x + 1) * factor);
      const sum = [0, 0, 0];
      for (let sy = y * factor; sy < y1; sy++) {
        for (let sx = x * factor; sx < x1; sx++) {
          for (let k = 0; k < 3; k++) sum[k] += tile.rgb[(sy * tile.width + sx) * 3 + k];
        }
      }
      const count = (y1 - y * factor) * (x1 - x * factor);
      for (let k = 0; k < 3; k++) rgb[(y * width + x) * 3 + k] = Math.round(sum[k] / count);
    }
  }
  return { height, width, rgb };
}
