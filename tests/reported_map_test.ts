import assert from "node:assert/strict";
import { overlayTile } from "../pipeline/explain/image_grid.ts";
import { REPORTED_MAP_SIDE, reportedMap } from "../pipeline/explain/reported_map.ts";

Deno.test("reported map: a map over the side is block-averaged by a whole factor, 4 digits, peak from the full map", () => {
  // 17 x 17, value = row + column / 100 (+ a lone peak): halved to 9 x 9, the last blocks hold one row or column.
  const side = REPORTED_MAP_SIDE + 1;
  const map = Float32Array.from({ length: side * side }, (_, q) => Math.floor(q / side) + (q % side) / 100);
  map[3 * side + 5] = 1000;
  const reported = reportedMap(map, side, side);
  assert.deepEqual([reported.height, reported.width], [9, 9]);
  assert.deepEqual(reported.peak, { row: 3, column: 5 });
  // Block (0, 0): rows 0-1, columns 0-1: (0 + 0.01 + 1 + 1.01) / 4.
  assert.equal(reported.values[0], 0.505);
  // Block (1, 2) holds the peak: rows 2-3, columns 4-5: (2.04 + 2.05 + 3.04 + 1000) / 4 = 251.7825 -> 251.8.
  assert.equal(reported.values[1 * 9 + 2], 251.8);
  // Block (8, 8) is the corner pixel alone: 16.16.
  assert.equal(reported.values[80], 16.16);
  // Block (8, 0): row 16, columns 0-1: (16 + 16.01) / 2.
  assert.equal(reported.values[72], 16.01);
});

Deno.test("reported map: a map within the side keeps its pixels, rounded to 4 significant digits", () => {
  const reported = reportedMap([0.123456, 2, 3, 1 / 3], 2, 2);
  assert.deepEqual(reported, { height: 2, width: 2, values: [0.1235, 2, 3, 0.3333], peak: { row: 1, column: 0 } });
});

Deno.test("overlay of a reduced map: each image pixel takes the value of the map block it lies in", () => {
  const image = new Float32Array(16).fill(0.5); // one grey 4 x 4 channel
  const small = overlayTile(image, [1, 4, 4], [0, 1, 0, 0], [0, 1], { height: 2, width: 2 });
  const full = overlayTile(image, [1, 4, 4], [0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual(small, full);
});
