/**
 * A data source over images held in memory as raw unsigned bytes (IDX files, the mnist package):
 * each image is converted to CHW float32 in [0, 1] only when it is streamed.
 *
 * @example
 * ```ts
 * const source = uint8Source("tiny", ["0", "1"], {
 *   pixels: new Uint8Array(2 * 4), labels: new Uint8Array([0, 1]), height: 2, width: 2, channels: 1,
 * }, {});
 * ```
 */
import { toChw } from "./image.ts";
import type { DataSource, Example, ImageOptions } from "./types.ts";

/** Images as interleaved (HWC) unsigned bytes, back to back, with one label per image. */
export interface Uint8Images {
  pixels: Uint8Array;
  labels: Uint8Array;
  height: number;
  width: number;
  channels: number;
}

/**
 * A source streaming `images` (in `order` if given: example i is image `order[i]`), converted
 * to the channels and size that `options` ask for (default: as stored; 2 or 4 stored channels
 * count as grey or RGB with alpha, and alpha is dropped).
 *
 * @example
 * ```ts
 * const images = { pixels: new Uint8Array([0, 255]), labels: new Uint8Array([0, 1]), height: 1, width: 1, channels: 1 };
 * const reversed = uint8Source("x", ["dark", "light"], images, { channels: 3 }, new Uint32Array([1, 0]));
 * for await (const { index, image, label } of reversed.examples()) console.log(index, label, image);
 * // 0 1 [1, 1, 1], then 1 0 [0, 0, 0]
 * ```
 */
export function uint8Source(
  name: string,
  classes: string[],
  images: Uint8Images,
  options: ImageOptions,
  order?: Uint32Array,
): DataSource {
  const { height, width, channels } = images;
  const stored = channels >= 3 ? 3 : 1;
  const target = {
    channels: options.channels ?? stored,
    height: options.height ?? height,
    width: options.width ?? width,
  };
  const size = height * width * channels;
  const count = order ? order.length : images.labels.length;
  async function* examples(): AsyncGenerator<Example> {
    for (let index = 0; index < count; index++) {
      const j = order ? order[index] : index;
      const data = images.pixels.subarray(j * size, (j + 1) * size);
      yield { index, image: toChw({ height, width, channels, maxValue: 255, data }, target), label: images.labels[j] };
    }
  }
  return { name, count, classes, shape: [target.channels, target.height, target.width], examples };
}
