/**
 * Shape arithmetic shared by every layer of the pipeline. `kernels/tensor.ts` keeps its own copy:
 * kernels import nothing from the pipeline, and file formats, shape inference and the ONNX
 * importer import nothing from the kernels.
 *
 * @example
 * ```ts
 * console.log(sizeOf([2, 3, 4])); // 24
 * ```
 */

/** Number of elements of a shape (1 for a scalar's empty shape). */
export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
