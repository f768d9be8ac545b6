/**
 * The `folder:PATH` source: one subfolder of PATH per class. Classes are the subfolder names,
 * sorted (JavaScript string order); images are the `.png`, `.jpg` and `.jpeg` files in each
 * (any letter case), sorted the same way, class by class. Entries whose names start with "." and
 * files with other extensions are ignored. Each image is decoded when it is streamed, converted to
 * the requested channels (default 3, RGB) and resized bilinearly to the requested size (default:
 * the size of the first image).
 *
 * @example
 * ```ts
 * const source = await openFolder("photos", { channels: 3, height: 64, width: 64 });
 * console.log(source.classes, source.count);
 * ```
 */
import { join } from "node:path";
import { InputError } from "../io/input_error.ts";
import { decodeImage, IMAGE_FILE_NAME } from "./decode_image.ts";
import { isFolderEntry, listFolder, readInputFile } from "../io/files.ts";
import { toChw } from "./image.ts";
import type { DataSource, Example, ImageOptions } from "./types.ts";

/**
 * Opens a class-per-subfolder image folder as a data source.
 *
 * @example
 * ```ts
 * const source = await openFolder("data/pets", { channels: 1 });
 * ```
 */
export async function openFolder(path: string, options: ImageOptions): Promise<DataSource> {
  const classes: string[] = [];
  const files: { path: string; label: number }[] = [];
  for (const entry of await listFolder(path)) {
    if (entry.name.startsWith(".") || !(await isFolderEntry(path, entry))) continue;
    const label = classes.push(entry.name) - 1;
    const classDir = join(path, entry.name);
    for (const file of await listFolder(classDir)) {
      if (!file.name.startsWith(".") && IMAGE_FILE_NAME.test(file.name)) {
        files.push({ path: join(classDir, file.name), label });
      }
    }
  }
  if (classes.length === 0) throw new InputError(`${path}: no class subfolders (expected one subfolder per class)`);
  if (files.length === 0) throw new InputError(`${path}: no .png, .jpg or .jpeg images in its class subfolders`);
  let { height, width } = options;
  if (height === undefined || width === undefined) {
    const first = decodeImage(await readInputFile(files[0].path), files[0].path);
    height ??= first.height;
    width ??= first.width;
  }
  const target = { channels: options.channels ?? 3, height, width };
  async function* examples(): AsyncGenerator<Example> {
    for (const [index, file] of files.entries()) {
      const raw = decodeImage(await readInputFile(file.path), file.path);
      yield { index, image: toChw(raw, target), label: file.label };
    }
  }
  return { name: `folder:${path}`, count: files.length, classes, shape: [target.channels, height, width], examples };
}
