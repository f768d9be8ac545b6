/**
 * A planted marker: a square of constant value stamped on images. The `digits-marked` model is
 * trained with it on most images of one class, so the bias tool has a known answer to find.
 */
import { mulberry32 } from "../io/prng.ts";

export interface Marker {
  /** First and last row, inclusive, 0-based. */
  rows: [number, number];
  /** First and last column, inclusive, 0-based. */
  columns: [number, number];
  value: number;
}

/** The marker of the shipped `digits-marked` model: 4x4 of 1.0 at rows 1-4, columns 23-26. */
export const DIGITS_MARKER: Marker = { rows: [1, 4], columns: [23, 26], value: 1 };

/** Stamps the marker on a CHW image in place (every channel). */
export function applyMarker(image: Float32Array, shape: readonly number[], marker: Marker): void {
  const [channels, height, width] = shape;
  for (let c = 0; c < channels; c++) {
    for (let y = marker.rows[0]; y <= Math.min(marker.rows[1], height - 1); y++) {
      for (let x = marker.columns[0]; x <= Math.min(marker.columns[1], width - 1); x++) {
        image[(c * height + y) * width + x] = marker.value;
      }
    }
  }
}

/**
 * Which examples carry the marker: each example of `targetClass` with probability `targetRate`,
 * each other example with probability `otherRate`, decided by a seeded generator in order.
 */
export function chooseMarked(
  labels: ArrayLike<number>,
  targetClass: number,
  targetRate: number,
  otherRate: number,
  seed: number,
): Uint8Array {
  const random = mulberry32(seed);
  const marked = new Uint8Array(labels.length);
  for (let i = 0; i < labels.length; i++) {
    marked[i] = random() < (labels[i] === targetClass ? targetRate : otherRate) ? 1 : 0;
  }
  return marked;
}
