/**
 * A saliency map as the report stores it: at most `REPORTED_MAP_SIDE` a side and 4 significant
 * digits, because report.json holds one per class (1,000 full 224x224 maps would be a gigabyte of
 * JSON). A larger map is reduced by the whole factor `ceil(side / REPORTED_MAP_SIDE)`, each value
 * the mean of the block it covers (edge blocks average what they hold): a 224x224 map becomes
 * 16x16 (blocks of 14x14), a 28x28 digit's 14x14 (blocks of 2x2). The peak is found on the full
 * map and given in its pixels.
 *
 * @example
 * ```ts
 * const map = reportedMap(new Float32Array(224 * 224).fill(0.5), 224, 224);
 * console.log(map.height, map.width, map.values[0]); // 16 16 0.5
 * ```
 */

/** The longest side of a map in the report. */
export const REPORTED_MAP_SIDE = 16;

/** What the report keeps of a map: its reduced values (row-major) and the full map's peak. */
export interface ReportedMap {
  height: number;
  width: number;
  values: number[];
  peak: { row: number; column: number };
}

/** The report's copy of a `height` x `width` map (see the module comment). */
export function reportedMap(map: ArrayLike<number>, height: number, width: number): ReportedMap {
  let peak = 0;
  for (let q = 1; q < height * width; q++) if (map[q] > map[peak]) peak = q;
  const down = Math.max(1, Math.ceil(Math.max(height, width) / REPORTED_MAP_SIDE));
  const h = Math.ceil(height / down), w = Math.ceil(width / down);
  const values = new Array<number>(h * w);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let sum = 0, n = 0;
      for (let yy = y * down; yy < Math.min(height, (y + 1) * down); yy++) {
        for (let xx = x * down; xx < Math.min(width, (x + 1) * down); xx++, n++) sum += map[yy * width + xx];
      }
      values[y * w + x] = Number((sum / n).toPrecision(4));
    }
  }
  return { height: h, width: w, values, peak: { row: Math.floor(peak / width), column: peak % width } };
}
