/**
 * One image file made ready for the model: read, decoded, and either put through torchvision's
 * resize-and-crop (`preprocess`) or converted and resized to a fixed shape (`target`). What a decode
 * worker does with each file it is given.
 *
 * @example
 * ```ts
 * const image = await prepareImageFile("val/ILSVRC2012_val_00000001.JPEG", {
 *   decoder: "sharp",
 *   preprocess: { resize: 256, crop: 224, interpolation: "bilinear" },
 * });
 * ```
 */
import type { Preprocess } from "../schema/preprocess.ts";
import { readInputFile } from "../io/files.ts";
import { decodeImageWith, type JpegDecoder } from "./decode_image.ts";
import { type TargetShape, toChw } from "./image.ts";
import { preprocessImage } from "./preprocess.ts";

/** How to make each file ready: the JPEG decoder, then torchvision's transform, else a plain resize. */
export type ImageRecipe =
  | { decoder: JpegDecoder; preprocess: Preprocess }
  | { decoder: JpegDecoder; target: TargetShape };

/**
 * Reads, decodes and prepares one file as a CHW float32 image in [0, 1]; bad files are InputErrors
 * naming them.
 *
 * @example
 * ```ts
 * const image = await prepareImageFile("cat.jpg", { decoder: "jpeg-js", target: { channels: 3, height: 32, width: 32 } });
 * ```
 */
export async function prepareImageFile(path: string, recipe: ImageRecipe): Promise<Float32Array> {
  const raw = await decodeImageWith(await readInputFile(path), path, recipe.decoder);
  return "preprocess" in recipe ? preprocessImage(raw, recipe.preprocess) : toChw(raw, recipe.target);
}
