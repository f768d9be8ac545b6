/**
 * Multi-label truth in the ImageNet-ReaL format (Beyer et al. 2020, "Are we done with ImageNet?",
 * github.com/google-research/reassessed-imagenet `real.json`): a JSON array holding, for each image
 * in the data source's order (for ImageNet, ILSVRC2012_val_00000001 first), the list of class
 * indices that are valid answers for it, in the model's output order. An empty list means no class
 * is a valid answer: the image is left out of the ReaL figures.
 *
 * @example
 * ```ts
 * const real = parseRealLabels([[0], [], [2, 1]], "real.json", { classes: 3, count: 2 });
 * real[2]; // [2, 1]: an array longer than the audit is fine (--limit audits a prefix)
 * ```
 */
import { z } from "zod";
import { readJson } from "../io/files.ts";
import { InputError } from "../io/input_error.ts";

/** The valid class indices of each image, by the image's index in the data source's order. */
export type RealLabels = readonly (readonly number[])[];

/** What the labels must fit: the model's class count and the number of images audited. */
export interface RealLabelsFit {
  classes: number;
  count: number;
}

const shown = (value: unknown) => JSON.stringify(value) ?? String(value);

function realLabelsSchema(classes: number) {
  const classIndex = z
    .number({ error: (issue) => `${shown(issue.input)} is not a class index` })
    .int({ error: (issue) => `${shown(issue.input)} is not a whole number` })
    .min(0, { error: (issue) => `${shown(issue.input)} is negative` })
    .max(classes - 1, { error: (issue) => `class ${shown(issue.input)} is not below the model's ${classes} classes` });
  const list = z.array(classIndex, {
    error: (issue) => `must be a list of class indices (possibly empty), got ${shown(issue.input)}`,
  });
  return z.array(list, { error: "must be a JSON array with one list of class indices per image" });
}

/**
 * Validates ImageNet-ReaL labels read from `source`: an array of lists of whole numbers below
 * `fit.classes`, at least `fit.count` lists long. The first problem is an InputError naming the
 * file and its position in the JSON (`real.json[12][1]: 3.5 is not a whole number`).
 */
export function parseRealLabels(data: unknown, source: string, fit: RealLabelsFit): RealLabels {
  const parsed = realLabelsSchema(fit.classes).safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new InputError(`${source}${issue.path.map((key) => `[${String(key)}]`).join("")}: ${issue.message}`);
  }
  if (parsed.data.length < fit.count) {
    throw new InputError(
      `${source}: has ${parsed.data.length} entries, but ${fit.count} images are audited: ` +
        "it must list every audited image, in the data source's order",
    );
  }
  return parsed.data;
}

/** Reads and validates an ImageNet-ReaL file (see parseRealLabels). */
export async function readRealLabels(path: string, fit: RealLabelsFit): Promise<RealLabels> {
  return parseRealLabels(await readJson(path), path, fit);
}
