/**
 * The counterfactual test of a suspected bias: apply an edit (a patch, a colour shift) to a seeded
 * sample of images of other labels that the model does not predict as the class, and count how
 * often the prediction flips into the class, with a 95% Wilson interval. A flip rate far above
 * zero confirms that the edit alone pulls images into the class. Sampled images the edit leaves as
 * they were (they already carry the patch) are left out and counted as `unchanged`.
 *
 * @example
 * ```ts
 * import type { Executor } from "../model/executor.ts";
 * declare const exec: Executor, labels: Int32Array, predicted: Int32Array, indices: Int32Array;
 * declare function images(indices: number[]): Promise<Float32Array>; // NCHW in the model's range
 * const spec = await readCounterfactualSpec('{"class": 7, "patch": {"rows": [1, 4], "columns": [23, 26], "value": 1}}');
 * const { report: result } = await runCounterfactual(exec, { spec, classNames: ["0", "1"], table: { labels, predicted, indices }, images, range: [0, 1], shape: [1, 28, 28] });
 * console.log(result.flips.rate, result.interval);
 * ```
 */
import { applyEdit } from "../data/edit.ts";
import { readJson } from "../io/files.ts";
import { InputError } from "../io/input_error.ts";
import { parseJson } from "../io/json_text.ts";
import { seededPermutation } from "../io/prng.ts";
import { sizeOf } from "../io/size_of.ts";
import { validated } from "../io/validated.ts";
import type { Executor } from "../model/executor.ts";
import { predict } from "../model/predict.ts";
import {
  type CounterfactualReport,
  type CounterfactualSpec,
  CounterfactualSpecSchema,
} from "../schema/counterfactual.ts";
import { wilsonInterval } from "./slices.ts";

/** Flipped images kept by index for the page. */
const EXAMPLES = 8;

/** The spec of `--counterfactual`: inline JSON (starting with "{") or a JSON file's path; bad ones are InputErrors. */
export async function readCounterfactualSpec(text: string): Promise<CounterfactualSpec> {
  const inline = text.trimStart().startsWith("{");
  const source = inline ? "--counterfactual" : text;
  const value = inline ? parseJson(text, source) : await readJson(text);
  return validated(CounterfactualSpecSchema, value, source, "invalid counterfactual spec");
}

/** The class a spec names (index or name), or an InputError. */
export function specClass(spec: CounterfactualSpec, classNames: readonly string[]): number {
  const label = typeof spec.class === "number" ? spec.class : classNames.indexOf(spec.class);
  if (label < 0 || label >= classNames.length) {
    throw new InputError(`--counterfactual: ${JSON.stringify(spec.class)} is not a class of the model`);
  }
  return label;
}

export interface CounterfactualInput {
  spec: CounterfactualSpec;
  classNames: readonly string[];
  /** Every audited image's index, label and clean prediction. */
  table: { indices: Int32Array; labels: Int32Array; predicted: Int32Array };
  /** NCHW images of the given example indices, in the model's input range. */
  images(indices: number[]): Promise<Float32Array>;
  range: readonly [number, number];
  /** CHW */
  shape: readonly [number, number, number];
  seed?: number;
}

/** Runs the counterfactual test; `flipped` holds the edited images of `report.examples` (NCHW, the model's range). */
export async function runCounterfactual(
  exec: Executor,
  input: CounterfactualInput,
): Promise<{ report: CounterfactualReport; flipped: Float32Array }> {
  const { spec, table, range, shape } = input;
  const label = specClass(spec, input.classNames);
  const seed = input.seed ?? 0;
  const eligible = [...table.labels.keys()].filter((r) => table.labels[r] !== label && table.predicted[r] !== label);
  const sample = [...seededPermutation(eligible.length, seed + 11).subarray(0, spec.images)].map((i) => eligible[i])
    .sort((a, b) => a - b);
  const per = sizeOf(shape), [lo, hi] = range;
  // A copy edit's source image comes in the same pass, first.
  const copied = spec.copy ? [spec.copy.index] : [];
  const gathered = await input.images([...copied, ...sample.map((r) => table.indices[r])]);
  const toUnit = (v: number) => (v - lo) / (hi - lo);
  const source = spec.copy ? gathered.slice(0, per).map(toUnit) : undefined;
  const sampled = gathered.subarray(copied.length * per);
  // The edit is on the [0, 1] data scale; the images are in the model's range. An image the edit
  // leaves as it was (one that already carries the patch) is no counterfactual: it is left out.
  const rows: number[] = [], edited: Float32Array[] = [];
  sample.forEach((row, i) => {
    const original = sampled.subarray(i * per, (i + 1) * per);
    const image = original.map(toUnit);
    applyEdit(image, shape, spec, source);
    for (let q = 0; q < per; q++) image[q] = lo + image[q] * (hi - lo);
    if (image.some((v, q) => Math.abs(v - original[q]) > 1e-6 * (hi - lo))) (rows.push(row), edited.push(image));
  });
  const pixels = new Float32Array(rows.length * per);
  edited.forEach((image, i) => pixels.set(image, i * per));
  const { logits } = rows.length > 0
    ? await predict(exec, { shape: [rows.length, ...shape], data: pixels })
    : { logits: [] };
  const after = logits.map((row) => row.indexOf(Math.max(...row)));
  const flipped = rows.filter((_, i) => after[i] === label);
  const changed = rows.filter((r, i) => after[i] !== table.predicted[r]).length;
  const byLabel = new Map<number, { flips: number; of: number }>();
  rows.forEach((r, i) => {
    const entry = byLabel.get(table.labels[r]) ?? { flips: 0, of: 0 };
    entry.of++;
    if (after[i] === label) entry.flips++;
    byLabel.set(table.labels[r], entry);
  });
  const rate = (count: number) => ({ count, of: rows.length, rate: rows.length > 0 ? count / rows.length : 0 });
  const shown = after.flatMap((p, i) => (p === label ? [i] : [])).slice(0, EXAMPLES);
  const flippedPixels = new Float32Array(shown.length * per);
  shown.forEach((i, k) => flippedPixels.set(edited[i], k * per));
  const report: CounterfactualReport = {
    spec: JSON.parse(JSON.stringify(spec)),
    label,
    name: input.classNames[label],
    unchanged: sample.length - rows.length,
    flips: rate(flipped.length),
    interval: wilsonInterval(flipped.length, rows.length),
    changed: rate(changed),
    byLabel: [...byLabel].map(([l, e]) => ({ label: l, ...e })).sort((a, b) => b.flips - a.flips || a.label - b.label),
    examples: flipped.slice(0, EXAMPLES).map((r) => table.indices[r]),
    seed,
  };
  return { report, flipped: flippedPixels };
}
