/**
 * The model manifest: what a model expects and what it was trained on.
 *
 * Images enter the model in its valid input range (usually [0, 1]); the executor applies the
 * per-channel normalisation `(x - mean) / std` itself, so attacks and saliency work in image
 * space and their gradients include the normalisation.
 */
import { z } from "zod";
import { InputError } from "../io/input_error.ts";
import { validated } from "../io/validated.ts";
import { PreprocessSchema, WnidSchema } from "../schema/preprocess.ts";

export const ManifestSchema = z.object({
  format: z.literal("convnet-model"),
  version: z.literal(1),
  name: z.string().min(1),
  classes: z.array(z.string()).min(2),
  input: z.object({
    channels: z.number().int().min(1),
    height: z.number().int().min(1),
    width: z.number().int().min(1),
  }),
  normalization: z.object({
    mean: z.array(z.number()).min(1),
    std: z.array(z.number().positive()).min(1),
  }),
  inputRange: z.tuple([z.number(), z.number()]).refine(([lo, hi]) => lo < hi, "inputRange must have lo < hi")
    .default([0, 1]),
  /** The WordNet id of each class, in output order (ImageNet models; see data/imagenet.ts). */
  wnids: z.array(WnidSchema).optional(),
  /** How images are resized and cropped before they enter the model (default: resized to the input). */
  preprocess: PreprocessSchema.optional(),
  /** Class hierarchy JSON, relative to the model folder. */
  hierarchy: z.string().optional(),
  /** Free-form record of how the model was made: data, split, seed, epochs, command, accuracy. */
  provenance: z.record(z.string(), z.unknown()).optional(),
  /** A planted marker (bias fixtures): where and what value. */
  marker: z.object({
    rows: z.tuple([z.number().int(), z.number().int()]),
    columns: z.tuple([z.number().int(), z.number().int()]),
    value: z.number(),
  }).optional(),
});

export type Manifest = z.infer<typeof ManifestSchema>;

/** Validates a manifest; channel counts of input and normalisation must agree. */
export function parseManifest(json: unknown, source: string): Manifest {
  const m = validated(ManifestSchema, json, source, "invalid manifest");
  const c = m.input.channels;
  if (m.normalization.mean.length !== c || m.normalization.std.length !== c) {
    throw new InputError(
      `${source}: normalization has ${m.normalization.mean.length} means and ${m.normalization.std.length} stds for ${c} channel(s)`,
    );
  }
  if (m.wnids) {
    if (m.wnids.length !== m.classes.length) {
      throw new InputError(`${source}: lists ${m.wnids.length} wnids for ${m.classes.length} classes`);
    }
    const seen = new Set<string>();
    for (const w of m.wnids) {
      if (seen.has(w)) throw new InputError(`${source}: wnid ${w} is listed twice`);
      seen.add(w);
    }
  }
  if (m.preprocess && (m.preprocess.crop !== m.input.height || m.preprocess.crop !== m.input.width)) {
    throw new InputError(
      `${source}: preprocess crops ${m.preprocess.crop}x${m.preprocess.crop} but the input is ${m.input.height}x${m.input.width}`,
    );
  }
  return m;
}
