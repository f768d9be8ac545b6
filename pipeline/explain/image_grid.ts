/**
 * Images for people: model inputs and saliency overlays as RGB tiles, laid out in a grid and
 * encoded as PNG (fast-png). Used for prototype/criticism grids and sanity-check figures.
 *
 * @example
 * ```ts
 * declare const image: Float32Array, saliencyMap: Float32Array; // [1, 28, 28] and its [28, 28] map
 * const tile = imageTile(image, [1, 28, 28]);
 * const hot = overlayTile(image, [1, 28, 28], saliencyMap);
 * await Deno.writeFile("grid.png", gridPng([[tile, hot]], { scale: 3 }));
 * ```
 */
import { encode } from "fast-png";

/** An RGB image, row-major, 3 bytes per pixel. */
export interface Tile {
  height: number;
  width: number;
  rgb: Uint8Array;
}

const byte = (v: number) => Math.max(0, Math.min(255, Math.round(v * 255)));

/** A CHW image (1 or 3 channels, values in `range`) as a tile. */
export function imageTile(
  image: ArrayLike<number>,
  shape: readonly number[],
  range: readonly [number, number] = [0, 1],
): Tile {
  const [channels, height, width] = shape;
  const plane = height * width;
  const rgb = new Uint8Array(plane * 3);
  for (let q = 0; q < plane; q++) {
    for (let k = 0; k < 3; k++) {
      const c = channels === 3 ? k : 0;
      rgb[q * 3 + k] = byte((image[c * plane + q] - range[0]) / (range[1] - range[0]));
    }
  }
  return { height, width, rgb };
}

/**
 * A saliency map over a dimmed grey copy of the image: the map, scaled to its own maximum, blends
 * the pixel towards red then yellow ("hot" colours), so the strongest attributions stand out.
 */
export function overlayTile(
  image: ArrayLike<number>,
  shape: readonly number[],
  map: ArrayLike<number>,
  range: readonly [number, number] = [0, 1],
): Tile {
  const base = imageTile(image, shape, range);
  let top = 0;
  for (let q = 0; q < map.length; q++) top = Math.max(top, Math.abs(map[q]));
  const rgb = new Uint8Array(base.rgb.length);
  for (let q = 0; q < map.length; q++) {
    const grey = (base.rgb[q * 3] + base.rgb[q * 3 + 1] + base.rgb[q * 3 + 2]) / 3 / 255;
    const heat = top > 0 ? Math.sqrt(Math.abs(map[q]) / top) : 0; // sqrt: weaker attributions stay visible
    const hot = [Math.min(1, 2 * heat), Math.max(0, 2 * heat - 1), 0];
    for (let k = 0; k < 3; k++) rgb[q * 3 + k] = byte((1 - heat) * 0.6 * grey + heat * hot[k]);
  }
  return { height: base.height, width: base.width, rgb };
}

/** A grid of tiles (null leaves a blank cell), each cell the largest tile's size, as PNG bytes. */
export function gridPng(
  rows: (Tile | null)[][],
  options: { scale?: number; gap?: number; background?: number } = {},
): Uint8Array {
  const { scale = 2, gap = 2, background = 255 } = options;
  const tiles = rows.flat().filter((t): t is Tile => t !== null);
  const cellH = Math.max(1, ...tiles.map((t) => t.height)) * scale;
  const cellW = Math.max(1, ...tiles.map((t) => t.width)) * scale;
  const columns = Math.max(1, ...rows.map((r) => r.length));
  const height = rows.length * (cellH + gap) + gap, width = columns * (cellW + gap) + gap;
  const data = new Uint8Array(height * width * 3).fill(background);
  rows.forEach((row, r) =>
    row.forEach((tile, c) => {
      if (!tile) return;
      const y0 = gap + r * (cellH + gap), x0 = gap + c * (cellW + gap);
      for (let y = 0; y < tile.height * scale; y++) {
        for (let x = 0; x < tile.width * scale; x++) {
          const from = (Math.floor(y / scale) * tile.width + Math.floor(x / scale)) * 3;
          data.set(tile.rgb.subarray(from, from + 3), ((y0 + y) * width + x0 + x) * 3);
        }
      }
    })
  );
  return encode({ width, height, data, channels: 3, depth: 8 });
}
