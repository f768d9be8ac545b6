/**
 * The weights check every model load makes: a NaN or infinity in any parameter (a batch norm's
 * running statistics included) would turn every logit into nonsense without an error, so the load
 * refuses it, naming the file, the tensor and the position.
 *
 * @example
 * ```ts
 * const weights = new Map([["fc.b", { shape: [2], data: new Float32Array([0, NaN]) }]]);
 * requireFiniteWeights(weights, "model/weights.safetensors");
 * // InputError: model/weights.safetensors: tensor "fc.b" holds NaN at [1]; weights must be finite
 * ```
 */
import { describeNonFinite, firstNonFinite } from "../io/finite.ts";
import { InputError } from "../io/input_error.ts";
import type { HostTensor } from "./model_files.ts";

/** `tensor "NAME" holds NaN at [i, ...]` for the first tensor with a non-finite value; null when all are finite. */
export function nonFiniteTensor(weights: ReadonlyMap<string, HostTensor>): string | null {
  for (const [name, { shape, data }] of weights) {
    const at = firstNonFinite(data);
    if (at >= 0) return `tensor "${name}" holds ${describeNonFinite(data, shape, at)}`;
  }
  return null;
}

/** Throws an InputError naming `source` and the first tensor that holds a non-finite value. */
export function requireFiniteWeights(weights: ReadonlyMap<string, HostTensor>, source: string): void {
  const found = nonFiniteTensor(weights);
  if (found) throw new InputError(`${source}: ${found}; weights must be finite`);
}
