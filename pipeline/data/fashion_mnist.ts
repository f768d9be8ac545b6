/**
 * Fashion-MNIST (Xiao et al. 2017) from the Debian package `dataset-fashion-mnist`, which installs
 * the four gzipped IDX files under /usr/share/datasets/fashion-mnist:
 * `train-images-idx3-ubyte.gz`, `train-labels-idx1-ubyte.gz` (60,000 images) and
 * `t10k-images-idx3-ubyte.gz`, `t10k-labels-idx1-ubyte.gz` (10,000, the official test set).
 * Uncompressed copies (the same names without `.gz`) are read too.
 *
 * @example
 * ```ts
 * const test = await openFashionMnist("test", {});
 * console.log(test.count); // 10000
 * ```
 */
import { join } from "node:path";
import { InputError } from "../io/input_error.ts";
import { pathExists } from "../io/files.ts";
import { openIdxPair } from "./idx_source.ts";
import type { DataSource, ImageOptions } from "./types.ts";

/** Where the Debian package puts the files. */
export const FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist";

/** The ten classes, in label order. */
export const FASHION_MNIST_CLASSES = [
  "T-shirt/top",
  "Trouser",
  "Pullover",
  "Dress",
  "Coat",
  "Sandal",
  "Shirt",
  "Sneaker",
  "Bag",
  "Ankle boot",
];

/** The gzipped file if present, else the uncompressed one. */
async function pick(dir: string, name: string): Promise<string> {
  const gz = join(dir, `${name}.gz`);
  return (await pathExists(gz)) ? gz : join(dir, name);
}

/**
 * Opens the Fashion-MNIST training (60,000) or test (10,000) split; `dir` is for tests.
 *
 * @example
 * ```ts
 * const train = await openFashionMnist("train", { channels: 3, height: 32, width: 32 });
 * ```
 */
export async function openFashionMnist(
  split: "train" | "test",
  options: ImageOptions,
  dir = FASHION_MNIST_DIR,
): Promise<DataSource> {
  if (!(await pathExists(dir))) {
    throw new InputError(
      `fashion-mnist not found under ${dir}: install the Debian package dataset-fashion-mnist (apt-get install dataset-fashion-mnist)`,
    );
  }
  const prefix = split === "train" ? "train" : "t10k";
  return await openIdxPair(
    await pick(dir, `${prefix}-images-idx3-ubyte`),
    await pick(dir, `${prefix}-labels-idx1-ubyte`),
    options,
    split === "train" ? "fashion-mnist:train" : "fashion-mnist",
    FASHION_MNIST_CLASSES,
  );
}
