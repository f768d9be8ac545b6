/** A data source read whole into memory: what training needs for shuffled mini-batches. */
import type { DataSource } from "./types.ts";
import { sizeOf } from "../io/size_of.ts";

export interface InMemoryData {
  /** count x C x H x W, contiguous. */
  images: Float32Array;
  labels: Int32Array;
  count: number;
  shape: [number, number, number];
  classes: string[];
}

/** Reads the first `limit` examples (all by default) of a source. */
export async function readAll(source: DataSource, limit = Infinity): Promise<InMemoryData> {
  const count = Math.min(source.count, limit);
  const per = sizeOf(source.shape);
  const images = new Float32Array(count * per);
  const labels = new Int32Array(count);
  let i = 0;
  for await (const example of source.examples()) {
    if (i >= count) break;
    images.set(example.image, i * per);
    labels[i] = example.label;
    i++;
  }
  return { images, labels, count, shape: source.shape, classes: source.classes };
}
