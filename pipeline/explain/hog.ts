/**
 * Histograms of oriented gradients (HOG; Dalal & Triggs 2005) of a map, and the HOG similarity of
 * Adebayo et al. (2018): the Pearson correlation of two maps' HOG descriptors. The descriptor is
 * `skimage.feature.hog(map, orientations, pixels_per_cell=(cell, cell), cells_per_block=(block,
 * block), block_norm="L2-Hys")` (tests/sanity_similarity_test.ts checks it): central-difference
 * gradients (0 on the border rows and columns), unsigned orientations in [0, 180) degrees, each
 * cell's histogram the sum of the magnitudes in each orientation bin over the cell's area, and
 * each block of cells normalised by L2, clipped at 0.2 and normalised again.
 *
 * @example
 * ```ts
 * const map = Float64Array.from({ length: 28 * 28 }, (_, i) => Math.sin(i));
 * const descriptor = hog(map, 28, 28, { cell: 4 }); // 6 x 6 blocks x 2 x 2 cells x 9 bins
 * hogSimilarity(map, map, 28, 28); // 1
 * ```
 */
import { pearson } from "./rank.ts";

export interface HogOptions {
  /** Orientation bins over [0, 180) degrees (default 9). */
  orientations?: number;
  /** Side of a cell in pixels (default: hogCell of the map's size). */
  cell?: number;
  /** Side of a block in cells (default 2). */
  block?: number;
}

/**
 * Cell side for a map: 4 px on a 28 px digit, 16 px on a 224 px photo (a 7- to 14-cell grid); on
 * maps under 8 px a side, half the side, so a block of 2x2 cells fits.
 */
export function hogCell(height: number, width: number): number {
  const side = Math.min(height, width);
  return Math.max(1, Math.min(Math.floor(side / 2), Math.max(4, Math.floor(side / 14))));
}

/** The HOG descriptor of a [height, width] map, flattened as skimage orders it (block row, block column, cell, bin). */
export function hog(map: ArrayLike<number>, height: number, width: number, options: HogOptions = {}): Float64Array {
  const bins = options.orientations ?? 9;
  const cell = options.cell ?? hogCell(height, width);
  const block = options.block ?? 2;
  const cellsY = Math.floor(height / cell), cellsX = Math.floor(width / cell);
  if (cellsY < block || cellsX < block) {
    throw new Error(`hog: a ${height}x${width} map has fewer than ${block}x${block} cells of ${cell} px`);
  }
  const histogram = new Float64Array(cellsY * cellsX * bins);
  for (let y = 0; y < cellsY * cell; y++) {
    for (let x = 0; x < cellsX * cell; x++) {
      const inside = (v: number, n: number) => v > 0 && v < n - 1;
      const gy = inside(y, height) ? map[(y + 1) * width + x] - map[(y - 1) * width + x] : 0;
      const gx = inside(x, width) ? map[y * width + x + 1] - map[y * width + x - 1] : 0;
      const degrees = (((Math.atan2(gy, gx) * 180) / Math.PI) % 180 + 180) % 180;
      const bin = Math.min(bins - 1, Math.floor(degrees / (180 / bins)));
      histogram[(Math.floor(y / cell) * cellsX + Math.floor(x / cell)) * bins + bin] += Math.hypot(gy, gx);
    }
  }
  histogram.forEach((v, i) => (histogram[i] = v / (cell * cell)));
  const blocksY = cellsY - block + 1, blocksX = cellsX - block + 1;
  const per = block * block * bins;
  const out = new Float64Array(blocksY * blocksX * per);
  for (let by = 0; by < blocksY; by++) {
    for (let bx = 0; bx < blocksX; bx++) {
      const values = new Float64Array(per);
      for (let cy = 0; cy < block; cy++) {
        for (let cx = 0; cx < block; cx++) {
          const from = ((by + cy) * cellsX + bx + cx) * bins;
          values.set(histogram.subarray(from, from + bins), (cy * block + cx) * bins);
        }
      }
      out.set(l2Hys(values), (by * blocksX + bx) * per);
    }
  }
  return out;
}

/** L2 normalisation, clipped at 0.2, normalised again (skimage's eps 1e-5). */
function l2Hys(values: Float64Array): Float64Array {
  const eps2 = 1e-10;
  const norm = (v: Float64Array) => Math.sqrt(v.reduce((s, x) => s + x * x, 0) + eps2);
  const first = norm(values);
  const clipped = values.map((v) => Math.min(v / first, 0.2));
  const second = norm(clipped);
  return clipped.map((v) => v / second);
}

/** Pearson correlation of the two maps' HOG descriptors (0 when either is constant). */
export function hogSimilarity(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  height: number,
  width: number,
  options: HogOptions = {},
): number {
  return pearson(hog(a, height, width, options), hog(b, height, width, options));
}
