/**
 * The counterfactual test (`--counterfactual SPEC`): an edit applied to images of other classes,
 * and how often it flips their prediction into a class. The spec is JSON, inline or in a file:
 * a patch (rows and columns inclusive, 0-based; a value per channel or one for all, on the [0, 1]
 * data scale), a region copied from one image of the data set at the same place (a criticism's,
 * say: `index` is its position in the data source's order), or a colour transform
 * (x' = clamp(scale x + shift) per channel, on that scale).
 *
 * @example
 * ```ts
 * const spec = CounterfactualSpecSchema.parse({ class: 7, patch: { rows: [1, 4], columns: [23, 26], value: 1 } });
 * ```
 */
import { z } from "zod";
import { AssetPathSchema } from "./asset_path.ts";

const Pair = z.tuple([z.number().int().min(0), z.number().int().min(0)]).refine(([a, b]) => a <= b, {
  message: "the first index must not exceed the last",
});
const PerChannel = z.union([z.number(), z.array(z.number()).min(1).max(4)]);

const Patch = z.object({ rows: Pair, columns: Pair, value: PerChannel }).strict();
const Copy = z.object({ index: z.number().int().min(0), rows: Pair, columns: Pair }).strict();
const Colour = z.object({ scale: PerChannel.default(1), shift: PerChannel.default(0) }).strict();

export const CounterfactualSpecSchema = z.object({
  /** The class the edit is suspected of pulling images into: its index or its name. */
  class: z.union([z.number().int().min(0), z.string().min(1)]),
  /** Images of other classes (predicted other than the class) edited, a seeded sample of at most this many. */
  images: z.number().int().min(1).max(100_000).default(500),
  /** The edit: exactly one of the three. */
  patch: Patch.optional(),
  copy: Copy.optional(),
  colour: Colour.optional(),
}).strict().refine((s) => [s.patch, s.copy, s.colour].filter((e) => e !== undefined).length === 1, {
  message: 'give exactly one edit, "patch", "copy" or "colour"',
});

export type CounterfactualSpec = z.output<typeof CounterfactualSpecSchema>;
export type CounterfactualEdit = Pick<CounterfactualSpec, "patch" | "copy" | "colour">;

const Rate = z.object({ count: z.number().int().min(0), of: z.number().int().min(0), rate: z.number().min(0).max(1) });

export const CounterfactualReportSchema = z.object({
  /** The spec as given, and the class it names. */
  spec: z.record(z.string(), z.unknown()),
  label: z.number().int().min(0),
  name: z.string(),
  /** Sampled images the edit left as they were (they already carried it), left out of the counts. */
  unchanged: z.number().int().min(0).optional(),
  /** Edited images whose prediction became the class (none was before), its 95% Wilson interval. */
  flips: Rate,
  interval: z.tuple([z.number().min(0).max(1), z.number().min(0).max(1)]),
  /** Edited images whose prediction changed at all. */
  changed: Rate,
  /** Flips by true label, most first. */
  byLabel: z.array(
    z.object({ label: z.number().int().min(0), flips: z.number().int().min(0), of: z.number().int().min(1) }),
  ),
  /** A few edited images that flipped, by index, for the page, and their picture (report folder path). */
  examples: z.array(z.number().int().min(0)),
  grid: AssetPathSchema.optional(),
  seed: z.number().int(),
});
export type CounterfactualReport = z.infer<typeof CounterfactualReportSchema>;
