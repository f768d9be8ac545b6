/**
 * The sidecar JSON beside an ONNX file (`net.onnx.json` by default): what a manifest needs that
 * ONNX does not carry. `classes` and `normalization` are required; `input` [C, H, W] only where
 * the file's input dims are symbolic; `inputRange` defaults to [0, 1]; `hierarchy` is a path
 * relative to the sidecar's folder; `wnids` and `preprocess` as in the manifest (ImageNet models).
 *
 * @example
 * ```ts
 * const sidecar = await readSidecar("net.onnx.json");
 * console.log(sidecar.classes.length, sidecar.normalization.mean);
 * ```
 */
import { z } from "zod";
import { InputError } from "../../io/input_error.ts";
import { validated } from "../../io/validated.ts";
import { ManifestSchema } from "../manifest.ts";
import { readJson } from "../../io/files.ts";

const Dim = z.number().int().min(1);

export const SidecarSchema = z.object({
  name: z.string().min(1).optional(),
  classes: ManifestSchema.shape.classes,
  normalization: ManifestSchema.shape.normalization,
  inputRange: ManifestSchema.shape.inputRange,
  input: z.tuple([Dim, Dim, Dim]).optional(),
  hierarchy: ManifestSchema.shape.hierarchy,
  wnids: ManifestSchema.shape.wnids,
  preprocess: ManifestSchema.shape.preprocess,
}).strict();

export type Sidecar = z.infer<typeof SidecarSchema>;

/**
 * Reads and validates a sidecar; a missing file says what it must hold.
 *
 * @example
 * ```ts
 * const sidecar = await readSidecar("models/net.onnx.json");
 * ```
 */
export async function readSidecar(path: string): Promise<Sidecar> {
  let json: unknown;
  try {
    json = await readJson(path);
  } catch (e) {
    if (e instanceof InputError && /no such file/.test(e.message)) {
      throw new InputError(
        `${path}: sidecar not found; an ONNX model needs one with "classes" and "normalization" (pass --sidecar to name another)`,
      );
    }
    throw e;
  }
  return validated(SidecarSchema, json, path, "invalid sidecar");
}
