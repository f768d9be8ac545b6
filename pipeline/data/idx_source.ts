/**
 * The `idx:IMAGES,LABELS` source: any pair of IDX files (gzipped or not). Images are
 * (count, height, width) grey or (count, height, width, channels) interleaved; labels are
 * (count). Classes are "0" .. the largest label, unless the caller names them.
 *
 * @example
 * ```ts
 * const source = await openIdxPair("images.idx.gz", "labels.idx.gz", {});
 * console.log(source.count, source.classes);
 * ```
 */
import { decodeIdx } from "../formats/idx.ts";
import { InputError } from "../io/input_error.ts";
import { readInputFile } from "../io/files.ts";
import type { DataSource, ImageOptions } from "./types.ts";
import { uint8Source } from "./uint8_source.ts";

/**
 * Opens a pair of IDX files as a data source; the counts must agree and, when `classes` is given,
 * every label must name one of them.
 *
 * @example
 * ```ts
 * const source = await openIdxPair("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", { channels: 3 });
 * ```
 */
export async function openIdxPair(
  imagesPath: string,
  labelsPath: string,
  options: ImageOptions,
  name = `idx:${imagesPath},${labelsPath}`,
  classes?: string[],
): Promise<DataSource> {
  const images = await decodeIdx(await readInputFile(imagesPath), imagesPath);
  const labels = await decodeIdx(await readInputFile(labelsPath), labelsPath);
  const [count, height, width, channels = 1] = images.shape;
  if (
    images.shape.length < 3 || images.shape.length > 4 || channels < 1 || channels > 4 || height === 0 || width === 0
  ) {
    throw new InputError(
      `${imagesPath}: IDX images must be (count, height, width) or (count, height, width, channels <= 4), found ${
        images.shape.join("x")
      }`,
    );
  }
  if (labels.shape.length !== 1) {
    throw new InputError(`${labelsPath}: IDX labels must have one dimension, found ${labels.shape.join("x")}`);
  }
  if (labels.shape[0] !== count) {
    throw new InputError(`${labelsPath}: ${labels.shape[0]} labels for ${count} images in ${imagesPath}`);
  }
  if (count === 0) throw new InputError(`${imagesPath}: no images`);
  const maxLabel = labels.data.reduce((a, b) => Math.max(a, b), 0);
  if (classes && maxLabel >= classes.length) {
    throw new InputError(`${labelsPath}: label ${maxLabel} is out of range for ${classes.length} classes`);
  }
  const names = classes ?? Array.from({ length: maxLabel + 1 }, (_, i) => String(i));
  return uint8Source(name, names, { pixels: images.data, labels: labels.data, height, width, channels }, options);
}
