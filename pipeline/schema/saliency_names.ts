/**
 * How pages name a report's saliency method (`explanations.method`): "Grad-CAM" for "gradcam", and
 * so on; a name the tool does not know is shown as it is.
 *
 * @example
 * ```ts
 * console.log(saliencyName("gradcam++"), saliencyName("smoothGrad")); // "Grad-CAM++" "SmoothGrad"
 * ```
 */

const NAMES = new Map([
  ["gradient", "gradient"],
  ["gradientInput", "gradient × input"],
  ["smoothGrad", "SmoothGrad"],
  ["integratedGradients", "Integrated Gradients"],
  ["gradcam", "Grad-CAM"],
  ["gradcam++", "Grad-CAM++"],
  ["occlusion", "occlusion"],
]);

/** The method's name for people. */
export function saliencyName(method: string): string {
  return NAMES.get(method) ?? method;
}
