/**
 * Batches of a data source for the audit stages: the source is streamed, so memory holds one
 * batch at a time however large the data set.
 *
 * @example
 * ```ts
 * import { openDataSource } from "../data/mod.ts";
 * const source = await openDataSource("mnist"); // 2,000 images
 * for await (const batch of imageBatches(source, { batchSize: 64, range: [0, 1] })) console.log(batch.count);
 * // 64 (31 times), then 16
 * ```
 */
import type { DataSource } from "../data/types.ts";
import { describeNonFinite, firstNonFinite } from "../io/finite.ts";
import { InputError } from "../io/input_error.ts";
import { sizeOf } from "../io/size_of.ts";

/** Consecutive examples of a source, images contiguous NCHW in the model's input range. */
export interface ImageBatch {
  /** Each example's position in the source's order. */
  indices: number[];
  images: Float32Array;
  labels: Int32Array;
  count: number;
  /** [channels, height, width] of one image. */
  shape: [number, number, number];
}

export interface BatchOptions {
  batchSize: number;
  /** Only the first `limit` examples. */
  limit?: number;
  /**
   * The model's valid input range: source images in [0, 1] are mapped linearly onto it
   * (the identity for [0, 1]).
   */
  range: readonly [number, number];
  /** Labels must be below this (the model's class count). */
  classes?: number;
}

/**
 * Streams a source in batches of `batchSize` (the last may be smaller); an example with a label
 * outside the model's classes or a non-finite pixel is an InputError naming the source and example.
 */
export async function* imageBatches(source: DataSource, options: BatchOptions): AsyncGenerator<ImageBatch> {
  const { batchSize } = options;
  const total = Math.min(source.count, options.limit ?? Infinity);
  const per = sizeOf(source.shape);
  let pending: { index: number; image: Float32Array; label: number }[] = [];
  const flush = (): ImageBatch => {
    const images = new Float32Array(pending.length * per);
    pending.forEach((e, i) => copyIntoRange(e.image, options.range, images, i * per));
    const batch = {
      indices: pending.map((e) => e.index),
      images,
      labels: Int32Array.from(pending, (e) => e.label),
      count: pending.length,
      shape: source.shape,
    };
    pending = [];
    return batch;
  };
  let seen = 0;
  for await (const example of source.examples()) {
    if (seen >= total) break;
    if (options.classes !== undefined && (example.label < 0 || example.label >= options.classes)) {
      throw new InputError(
        `${source.name}: example ${example.index} has label ${example.label}, but the model has ${options.classes} classes`,
      );
    }
    // The model's boundary: a NaN pixel would pass the kernels as a finite, confident prediction.
    const bad = firstNonFinite(example.image);
    if (bad >= 0) {
      throw new InputError(
        `${source.name}: example ${example.index} holds ${describeNonFinite(example.image, source.shape, bad)}`,
      );
    }
    pending.push(example);
    seen++;
    if (pending.length === batchSize) yield flush();
  }
  if (pending.length > 0) yield flush();
}

/** Copies a source image (values in [0, 1]) into `out` at `at`, mapped linearly onto `range`. */
export function copyIntoRange(
  image: Float32Array,
  range: readonly [number, number],
  out: Float32Array,
  at: number,
): void {
  const [lo, hi] = range;
  for (let j = 0; j < image.length; j++) out[at + j] = lo + image[j] * (hi - lo);
}

/** How many examples `imageBatches` will yield for a source and limit. */
export function batchedCount(source: DataSource, limit?: number): number {
  return Math.min(source.count, limit ?? Infinity);
}
