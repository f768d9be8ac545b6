/**
 * The audit's saliency method and its settings, decided once the model is loaded: `--saliency`
 * when given, else Grad-CAM for a ConvNet (a graph with a spatial layer, cam.ts's
 * `lastSpatialLayer`) and the vanilla gradient otherwise. `--cam-layer` must name a rank-4 node and
 * `--occlusion-patch` fit the image; each error names its flag.
 *
 * The methods the faithfulness metrics and the sanity checks compare (`--compare-methods`) are
 * every method that applies to the model on inputs up to 64x64 pixels, and above that only the
 * single-pass ones plus the chosen method: at 224x224 on a software adapter SmoothGrad, IG and
 * occlusion each take minutes per image (README, "Explanations"), so comparing them by default would
 * turn an ImageNet audit into hours.
 *
 * @example
 * ```ts
 * import type { Executor } from "../model/executor.ts";
 * declare const exec: Executor;
 * const choice = chooseSaliency(exec, { occlusionPatch: 4 });
 * console.log(choice.method, choice.settings.camLayer); // "gradcam" "block2.pool" for the digits model
 * ```
 */
import { camLayerProblem, lastSpatialLayer } from "../explain/cam.ts";
import { occlusionGeometry } from "../explain/occlusion.ts";
import { type SaliencyMethod, saliencyMethodsFor, type SaliencyOptions } from "../explain/saliency.ts";
import { InputError } from "../io/input_error.ts";
import type { Executor } from "../model/executor.ts";

/** The flags that choose the method and set it up. */
export interface SaliencyFlags {
  saliency?: SaliencyMethod | "none";
  camLayer?: string;
  occlusionPatch?: number;
  occlusionStride?: number;
  compareMethods?: CompareMethods;
}

/** Which methods the faithfulness metrics and sanity checks compare: a rule or a list. */
export type CompareMethods = "auto" | "all" | "fast" | readonly SaliencyMethod[];

/** Methods costing one backward pass per image (the others: 25 to about 170 passes). */
const SINGLE_PASS: readonly SaliencyMethod[] = ["gradient", "gradientInput", "gradcam", "gradcam++"];

/** Inputs up to this many pixels compare every method by default ("auto"). */
export const COMPARE_ALL_MAX_PIXELS = 64 * 64;

/** The method the audit explains with ("none": no explanations) and the settings every saliency call gets. */
export interface SaliencyChoice {
  method: SaliencyMethod | "none";
  settings: Pick<SaliencyOptions, "camLayer"> & { occlusion: { patch: number; stride: number } };
  /** The methods the faithfulness metrics and the sanity checks compare, in report order. */
  compared: SaliencyMethod[];
}

/** Checks the flags against the model and resolves the default method (see the module comment). */
export function chooseSaliency(exec: Executor, flags: SaliencyFlags): SaliencyChoice {
  const spatial = lastSpatialLayer(exec);
  if ((flags.saliency === "gradcam" || flags.saliency === "gradcam++") && spatial === null) {
    throw new InputError(`--saliency ${flags.saliency}: the model has no spatial (rank-4) layer to explain`);
  }
  if (flags.camLayer !== undefined) {
    const problem = camLayerProblem(exec, flags.camLayer);
    if (problem) throw new InputError(`--cam-layer: ${problem}`);
  }
  const [, height, width] = exec.graph.input.shape;
  let occlusion;
  try {
    occlusion = occlusionGeometry(height, width, flags.occlusionPatch, flags.occlusionStride);
  } catch (e) {
    if (!(e instanceof InputError)) throw e;
    throw new InputError(`--occlusion-patch: ${flags.occlusionPatch} does not fit the ${height}x${width} input`);
  }
  const method = flags.saliency ?? (spatial === null ? "gradient" : "gradcam");
  return {
    method,
    compared: comparedMethods(exec, flags.compareMethods ?? "auto", method),
    settings: {
      camLayer: flags.camLayer ?? spatial ?? undefined,
      occlusion: { patch: occlusion.patch, stride: occlusion.stride },
    },
  };
}

/** Resolves `--compare-methods` against the model (see the module comment); a listed method that does not apply exits 2. */
function comparedMethods(exec: Executor, rule: CompareMethods, chosen: SaliencyMethod | "none"): SaliencyMethod[] {
  const applicable = saliencyMethodsFor(exec);
  if (typeof rule !== "string") {
    const missing = rule.filter((m) => !applicable.includes(m));
    if (missing.length > 0) {
      throw new InputError(`--compare-methods: ${missing.join(", ")} needs a spatial (rank-4) layer the model lacks`);
    }
    return applicable.filter((m) => rule.includes(m));
  }
  const [, height, width] = exec.graph.input.shape;
  const all = rule === "all" || (rule === "auto" && height * width <= COMPARE_ALL_MAX_PIXELS);
  return all ? applicable : applicable.filter((m) => SINGLE_PASS.includes(m) || m === chosen);
}
