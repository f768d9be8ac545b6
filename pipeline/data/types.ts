/**
 * The contract every data source keeps: a fixed, known order of labelled images, streamed.
 *
 * @example
 * ```ts
 * declare const source: DataSource;
 * for await (const { index, image, label } of source.examples()) console.log(index, label, image.length);
 * ```
 */
import type { Preprocess } from "../schema/preprocess.ts";

/** One labelled image. `index` is its position in the source's order. */
export interface Example {
  index: number;
  /** CHW float32, values in [0, 1]. */
  image: Float32Array;
  label: number;
}

/** A labelled image set in a fixed order; `examples()` can be called again to stream it anew. */
export interface DataSource {
  name: string;
  count: number;
  classes: string[];
  /** [channels, height, width] of every image. */
  shape: [number, number, number];
  examples(): AsyncIterable<Example>;
}

/**
 * What a caller may ask of the images: channel count (1 grey, 3 RGB) and size (bilinear resize),
 * or, where the model declares it, torchvision's resize-and-crop (`preprocess`, which then sets the
 * size). `classIds` are the model's WordNet ids in output order: sources labelled by wnid (ImageNet)
 * map their labels onto them.
 */
export interface ImageOptions {
  channels?: number;
  height?: number;
  width?: number;
  preprocess?: Preprocess;
  classIds?: readonly string[];
}
