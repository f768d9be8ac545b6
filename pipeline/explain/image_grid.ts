/**
 * Images for people: model inputs and saliency overlays as RGB tiles, fitted to a display cell
 * (fit_tile.ts), laid out in a grid and encoded as PNG (fast-png) or, for photographs, JPEG
 * (jpeg-js). Used for the report's single pictures, prototype/criticism grids and sanity figures.
 *
 * @example
 * ```ts
 * declare const image: Float32Array, saliencyMap: Float32Array; // [1, 28, 28] and its [28, 28] map
 * const tile = imageTile(image, [1, 28, 28]);
 * const hot = overlayTile(image, [1, 28, 28], saliencyMap);
 * const { format, bytes } = gridPicture([[tile, hot]], { cell: 84 }); // 28 px tiles drawn x3
 * await Deno.writeFile(`grid.${format}`, bytes);
 * ```
 */
import { encode as encodePng } from "fast-png";
import { encode as encodeJpeg } from "jpeg-js";
import type { AssetFormat } from "../schema/asset_path.ts";
import { fitTile } from "./fit_tile.ts";

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
 * the pixel towards red then yellow ("hot" colours), so the strongest attributions stand out. The
 * map is the image's size unless `mapSize` says it is smaller (a report's reduced map), and then
 * each pixel takes the map value of the block it lies in.
 */
export function overlayTile(
  image: ArrayLike<number>,
  shape: readonly number[],
  map: ArrayLike<number>,
  range: readonly [number, number] = [0, 1],
  mapSize?: { height: number; width: number },
): Tile {
  const base = imageTile(image, shape, range);
  const { height, width } = base;
  const mh = mapSize?.height ?? height, mw = mapSize?.width ?? width;
  let top = 0;
  for (let q = 0; q < mh * mw; q++) top = Math.max(top, Math.abs(map[q]));
  const rgb = new Uint8Array(base.rgb.length);
  for (let q = 0; q < height * width; q++) {
    const value = map[Math.floor((Math.floor(q / width) * mh) / height) * mw + Math.floor(((q % width) * mw) / width)];
    const grey = (base.rgb[q * 3] + base.rgb[q * 3 + 1] + base.rgb[q * 3 + 2]) / 3 / 255;
    const heat = top > 0 ? Math.sqrt(Math.abs(value) / top) : 0; // sqrt: weaker attributions stay visible
    const hot = [Math.min(1, 2 * heat), Math.max(0, 2 * heat - 1), 0];
    for (let k = 0; k < 3; k++) rgb[q * 3 + k] = byte((1 - heat) * 0.6 * grey + heat * hot[k]);
  }
  return { height: base.height, width: base.width, rgb };
}

/** Levels of a heat overlay's palette. */
const HEAT_LEVELS = 64;

/**
 * A saliency map alone as a compact PNG overlay, drawn by the page over the image (stored once, as
 * its own asset): an indexed-colour PNG of `HEAT_LEVELS` hot colours whose opacity grows with the
 * heat (sqrt(|value| / max), as `overlayTile`), from 40% black, which dims the image, to opaque
 * red-yellow. Fitted to `cell` as `fitTile` fits the image, so the two line up.
 */
export function heatPicture(map: ArrayLike<number>, height: number, width: number, cell: number): EncodedPicture {
  let top = 0;
  for (let q = 0; q < height * width; q++) top = Math.max(top, Math.abs(map[q]));
  const heat = new Uint8Array(height * width * 3);
  for (let q = 0; q < height * width; q++) {
    heat.fill(top > 0 ? byte(Math.sqrt(Math.abs(map[q]) / top)) : 0, 3 * q, 3 * q + 3);
  }
  const fitted = fitTile({ height, width, rgb: heat }, cell);
  const levels = Uint8Array.from(
    { length: fitted.height * fitted.width },
    (_, q) => Math.round((fitted.rgb[3 * q] / 255) * (HEAT_LEVELS - 1)),
  );
  const palette = Array.from({ length: HEAT_LEVELS }, (_, i) => {
    const h = i / (HEAT_LEVELS - 1), alpha = 0.4 + 0.6 * h;
    // Composited over the image: (1 - alpha) * image + alpha * colour = 0.6 (1 - h) * image + h * hot.
    return [...[Math.min(1, 2 * h), Math.max(0, 2 * h - 1), 0].map((v) => byte((h * v) / alpha)), byte(alpha)];
  });
  const bytes = encodePng({ width: fitted.width, height: fitted.height, data: levels, channels: 1, depth: 8, palette });
  return { format: "png", bytes };
}

/** A picture's encoded bytes and their format (PNG or JPEG, see `gridPicture`). */
export interface EncodedPicture {
  format: AssetFormat;
  bytes: Uint8Array;
}

/** Tiles with a side above this are photographs (ImageNet-sized): their pictures are JPEG, smaller ones PNG. */
export const PHOTO_SIDE = 64;
/** JPEG quality of photographs: a 112 px photo is 5 KB, a seventh of its PNG, off by 3-4 levels of 255 on average. */
const JPEG_QUALITY = 85;

/**
 * A grid of tiles (null leaves a blank cell), each tile fitted to a `cell`-pixel square by
 * `fitTile` and every cell the largest fitted tile's size. Encoded as JPEG when any tile is a
 * photograph (a side above `PHOTO_SIDE`), else as PNG, lossless.
 *
 * @example
 * ```ts
 * declare const tile: Tile; // a 28x28 digit
 * const picture = gridPicture([[tile, null, tile]], { cell: 56 }); // PNG, 3 cells of 56 px
 * ```
 */
export function gridPicture(
  rows: (Tile | null)[][],
  options: { cell: number; gap?: number; background?: number },
): EncodedPicture {
  const { cell, gap = 2, background = 255 } = options;
  const sources = rows.flat().filter((t): t is Tile => t !== null);
  const photo = sources.some((t) => Math.max(t.height, t.width) > PHOTO_SIDE);
  const fitted = rows.map((row) => row.map((t) => t && fitTile(t, cell)));
  const tiles = fitted.flat().filter((t): t is Tile => t !== null);
  const cellH = Math.max(1, ...tiles.map((t) => t.height));
  const cellW = Math.max(1, ...tiles.map((t) => t.width));
  const columns = Math.max(1, ...rows.map((r) => r.length));
  const height = rows.length * (cellH + gap) + gap, width = columns * (cellW + gap) + gap;
  const data = new Uint8Array(height * width * 3).fill(background);
  fitted.forEach((row, r) =>
    row.forEach((tile, c) => {
      if (!tile) return;
      const y0 = gap + r * (cellH + gap), x0 = gap + c * (cellW + gap);
      for (let y = 0; y < tile.height; y++) {
        data.set(tile.rgb.subarray(y * tile.width * 3, (y + 1) * tile.width * 3), ((y0 + y) * width + x0) * 3);
      }
    })
  );
  return photo
    ? { format: "jpg", bytes: jpeg(width, height, data) }
    : { format: "png", bytes: encodePng({ width, height, data, channels: 3, depth: 8 }) };
}

/** Baseline JPEG bytes of an RGB image (jpeg-js takes RGBA; the alpha is dropped). */
function jpeg(width: number, height: number, rgb: Uint8Array): Uint8Array {
  const rgba = new Uint8Array(width * height * 4);
  for (let q = 0; q < width * height; q++) {
    rgba[q * 4] = rgb[q * 3];
    rgba[q * 4 + 1] = rgb[q * 3 + 1];
    rgba[q * 4 + 2] = rgb[q * 3 + 2];
    rgba[q * 4 + 3] = 255;
  }
  const { data } = encodeJpeg({ width, height, data: rgba }, JPEG_QUALITY);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}
