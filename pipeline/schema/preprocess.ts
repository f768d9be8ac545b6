/**
 * How a model wants its images prepared, as torchvision's evaluation transforms do it: the shorter
 * side resized to `resize` (antialiased, PIL's filters), a centre crop of `crop` x `crop`, RGB.
 * The model's own normalisation follows in the executor. Declared in a model's manifest or ONNX
 * sidecar as `"preprocess": {"resize": 256, "crop": 224, "interpolation": "bilinear"}`.
 *
 * @example
 * ```ts
 * const p = PreprocessSchema.parse({ resize: 256, crop: 224 });
 * console.log(p.interpolation); // "bilinear"
 * ```
 */
import { z } from "zod";

/** PIL's resampling filters that torchvision's classification weights use. */
export const INTERPOLATIONS = ["bilinear", "bicubic"] as const;

const side = z.number().int().min(1).max(4096);

export const PreprocessSchema = z.object({
  /** The shorter side's length after the resize. */
  resize: side,
  /** The centre crop's side. */
  crop: side,
  interpolation: z.enum(INTERPOLATIONS).default("bilinear"),
}).strict().refine((p) => p.crop <= p.resize, "crop must not be larger than resize");

export type Preprocess = z.infer<typeof PreprocessSchema>;

/** An ImageNet class id: "n" and the 8-digit offset of a noun synset in WordNet 3.0. */
export const WnidSchema = z.string().regex(/^n\d{8}$/, 'must be a WordNet id such as "n01440764"');
