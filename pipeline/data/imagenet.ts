/**
 * The `imagenet:PATH` source: an ImageNet (ILSVRC2012) validation set in either of its usual layouts.
 *
 * - One subfolder of PATH per WordNet id, as torchvision's ImageFolder reads it:
 *   `n01440764/ILSVRC2012_val_00000293.JPEG`.
 * - A flat folder of `ILSVRC2012_val_*.JPEG` with Kaggle's `LOC_val_solution.csv` (header
 *   `ImageId,PredictionString`; the label is the first wnid of the prediction string), in PATH or
 *   in a folder above it (Kaggle keeps it at the top, above `ILSVRC/Data/CLS-LOC/val`).
 *
 * Images are the `.jpeg`, `.jpg` and `.png` files (any letter case; names starting with "." are
 * ignored), streamed in file-name order over the whole set (by name, then by path), not class by
 * class: index i is the i-th validation image by name, the order ImageNet-ReaL's labels use, the same
 * on every machine. Classes are the model's wnids (`options.classIds`, in output order), which every
 * label must be among. With the model's `preprocess`, images go through torchvision's resize and
 * centre crop (preprocess.ts); without it, they are resized to the requested size (default: the
 * first image's). Files are decoded by a pool of workers ahead of the consumer (decode_pool.ts).
 *
 * @example
 * ```ts
 * declare const wnids: string[];
 * const source = await openImagenet("ILSVRC2012/val", {
 *   classIds: wnids,
 *   preprocess: { resize: 256, crop: 224, interpolation: "bilinear" },
 * });
 * console.log(source.count, source.shape); // 50000 [3, 224, 224]
 * ```
 */
import { basename, dirname, join, resolve } from "node:path";
import { InputError } from "../io/input_error.ts";
import { isFolderEntry, listFolder, pathExists, readInputFile } from "../io/files.ts";
import { WnidSchema } from "../schema/preprocess.ts";
import { decodeImageWith, IMAGE_FILE_NAME, type JpegDecoder, jpegDecoder } from "./decode_image.ts";
import { decodeFiles, type DecodePoolOptions } from "./decode_pool.ts";
import type { ImageRecipe } from "./prepare_image.ts";
import type { DataSource, Example, ImageOptions } from "./types.ts";

/** Kaggle's validation labels. */
export const KAGGLE_SOLUTION_CSV = "LOC_val_solution.csv";

/** An image and the wnid it is labelled with. */
interface Labelled {
  path: string;
  wnid: string;
}

function isImage(entry: Deno.DirEntry): boolean {
  return !entry.name.startsWith(".") && !entry.isDirectory && IMAGE_FILE_NAME.test(entry.name);
}

/** The images of the wnid subfolders, labelled by their folder. */
async function folderPerWnid(path: string, folders: string[]): Promise<Labelled[]> {
  const files: Labelled[] = [];
  for (const wnid of folders) {
    if (!WnidSchema.safeParse(wnid).success) {
      throw new InputError(`${join(path, wnid)}: not a WordNet id folder (expected one folder per wnid, as n01440764)`);
    }
    for (const entry of await listFolder(join(path, wnid))) {
      if (isImage(entry)) files.push({ path: join(path, wnid, entry.name), wnid });
    }
  }
  return files;
}

/** PATH and each folder above it, nearest first. */
function foldersUp(path: string): string[] {
  const folders = [resolve(path)];
  while (dirname(folders.at(-1)!) !== folders.at(-1)) folders.push(dirname(folders.at(-1)!));
  return folders;
}

/** Image id (file name without extension) to wnid, from Kaggle's solution file. */
async function readSolution(csv: string): Promise<Map<string, string>> {
  const lines = new TextDecoder().decode(await readInputFile(csv)).split(/\r?\n/);
  if (lines[0].trim() !== "ImageId,PredictionString") {
    throw new InputError(`${csv}: expected the header "ImageId,PredictionString", found "${lines[0].slice(0, 60)}"`);
  }
  const labels = new Map<string, string>();
  lines.slice(1).forEach((line, i) => {
    if (line.trim() === "") return;
    const [id, prediction = ""] = line.split(",");
    const wnid = prediction.trim().split(/\s+/)[0];
    if (!WnidSchema.safeParse(wnid).success) {
      throw new InputError(
        `${csv}: line ${i + 2}: the prediction string does not start with a wnid ("${line.slice(0, 60)}")`,
      );
    }
    labels.set(id.trim(), wnid);
  });
  return labels;
}

/** The flat folder's images, labelled by the solution file found in PATH or above it. */
async function flatWithSolution(path: string, entries: Deno.DirEntry[]): Promise<Labelled[]> {
  const images = entries.filter(isImage);
  if (images.length === 0) {
    throw new InputError(
      `${path}: no images (expected one subfolder per wnid, or ILSVRC2012_val_*.JPEG files with ${KAGGLE_SOLUTION_CSV})`,
    );
  }
  const looked = foldersUp(path);
  let csv: string | undefined;
  for (const folder of looked) {
    if (await pathExists(join(folder, KAGGLE_SOLUTION_CSV))) {
      csv = join(folder, KAGGLE_SOLUTION_CSV);
      break;
    }
  }
  if (!csv) {
    throw new InputError(
      `${path}: a flat folder of images needs Kaggle's ${KAGGLE_SOLUTION_CSV} for its labels; looked in ${
        looked.join(", ")
      }`,
    );
  }
  const solution = await readSolution(csv);
  return images.map((entry) => {
    const wnid = solution.get(entry.name.replace(/\.[^.]*$/, ""));
    if (!wnid) throw new InputError(`${join(path, entry.name)}: no label in ${csv}`);
    return { path: join(path, entry.name), wnid };
  });
}

/** File-name order over the whole set: by name, then by path (JavaScript string order). */
function byFileName(a: Labelled, b: Labelled): number {
  const [x, y] = [basename(a.path), basename(b.path)];
  if (x !== y) return x < y ? -1 : 1;
  return a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
}

/** Test hooks: the decode pool's size and the JPEG decoder (default: one worker per core; sharp if it loads). */
export interface ImagenetSourceOptions extends DecodePoolOptions {
  decoder?: JpegDecoder;
}

/**
 * Opens an ImageNet validation folder in either layout (see the module doc).
 *
 * @example
 * ```ts
 * const source = await openImagenet("val", { classIds: ["n01440764", "n01443537"], height: 64, width: 64 });
 * for await (const { index, label } of source.examples()) console.log(index, source.classes[label]);
 * ```
 */
export async function openImagenet(
  path: string,
  options: ImageOptions,
  pool: ImagenetSourceOptions = {},
): Promise<DataSource> {
  const classes = options.classIds ? [...options.classIds] : undefined;
  if (!classes) {
    throw new InputError(
      `imagenet:${path}: the model must declare its classes' WordNet ids, "wnids" (one per output, in output order), in its sidecar or manifest`,
    );
  }
  const entries = await listFolder(path);
  const folders: string[] = [];
  for (const entry of entries) {
    if (!entry.name.startsWith(".") && (await isFolderEntry(path, entry))) folders.push(entry.name);
  }
  const perWnid = folders.some((name) => WnidSchema.safeParse(name).success);
  const files = perWnid ? await folderPerWnid(path, folders) : await flatWithSolution(path, entries);
  if (files.length === 0) throw new InputError(`${path}: no .jpeg, .jpg or .png images in its wnid subfolders`);
  files.sort(byFileName);
  const output = new Map(classes.map((wnid, i) => [wnid, i]));
  const labels = files.map(({ path: file, wnid }) => {
    const label = output.get(wnid);
    if (label === undefined) {
      throw new InputError(`${file}: its label ${wnid} is not among the model's ${classes.length} wnids`);
    }
    return label;
  });
  const decoder = pool.decoder ?? await jpegDecoder();
  const recipe = await imageRecipe(files[0].path, options, decoder);
  const shape: [number, number, number] = "preprocess" in recipe
    ? [3, recipe.preprocess.crop, recipe.preprocess.crop]
    : [recipe.target.channels, recipe.target.height, recipe.target.width];
  const paths = files.map((f) => f.path);
  async function* examples(): AsyncGenerator<Example> {
    let index = 0;
    for await (const image of decodeFiles(paths, recipe, pool)) {
      yield { index, image, label: labels[index] };
      index++;
    }
  }
  return { name: `imagenet:${path}`, count: files.length, classes, shape, examples };
}

/** torchvision's transform where the model declares one, else a resize to the asked (or first image's) size. */
async function imageRecipe(first: string, options: ImageOptions, decoder: JpegDecoder): Promise<ImageRecipe> {
  const { preprocess } = options;
  if (preprocess) {
    const asked = [options.channels ?? 3, options.height ?? preprocess.crop, options.width ?? preprocess.crop];
    if (asked.join("x") !== `3x${preprocess.crop}x${preprocess.crop}`) {
      throw new InputError(
        `imagenet: preprocess makes 3x${preprocess.crop}x${preprocess.crop} images, the model asks for ${
          asked.join("x")
        }`,
      );
    }
    return { decoder, preprocess };
  }
  let { height, width } = options;
  if (height === undefined || width === undefined) {
    const raw = await decodeImageWith(await readInputFile(first), first, decoder);
    height ??= raw.height;
    width ??= raw.width;
  }
  return { decoder, target: { channels: options.channels ?? 3, height, width } };
}
