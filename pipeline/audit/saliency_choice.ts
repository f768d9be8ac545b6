/**
 * The audit's saliency method and its settings, decided once the model is loaded: `--saliency`
 * when given, else Grad-CAM for a ConvNet (a graph with a spatial layer, cam.ts's
 * `lastSpatialLayer`) and the vanilla gradient otherwise. `--cam-layer` must name a rank-4 node and
 * `--occlusion-patch` fit the image; each error names its flag.
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
import type { SaliencyMethod, SaliencyOptions } from "../explain/saliency.ts";
import { InputError } from "../io/input_error.ts";
import type { Executor } from "../model/executor.ts";

/** The flags that choose the method and set it up. */
export interface SaliencyFlags {
  saliency?: SaliencyMethod | "none";
  camLayer?: string;
  occlusionPatch?: number;
  occlusionStride?: number;
}

/** The method the audit explains with ("none": no explanations) and the settings every saliency call gets. */
export interface SaliencyChoice {
  method: SaliencyMethod | "none";
  settings: Pick<SaliencyOptions, "camLayer"> & { occlusion: { patch: number; stride: number } };
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
  return {
    method: flags.saliency ?? (spatial === null ? "gradient" : "gradcam"),
    settings: {
      camLayer: flags.camLayer ?? spatial ?? undefined,
      occlusion: { patch: occlusion.patch, stride: occlusion.stride },
    },
  };
}
