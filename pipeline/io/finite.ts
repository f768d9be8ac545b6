/**
 * Finding the first NaN or infinity in an array, and naming its position by a shape's axes: every
 * boundary that takes numbers from a file (weights, images, a training loss) refuses non-finite
 * ones with the tensor's name and the position.
 *
 * @example
 * ```ts
 * const data = new Float32Array([1, 2, NaN, 4]);
 * const at = firstNonFinite(data); // 2
 * console.log(describeNonFinite(data, [2, 2], at)); // "NaN at [1, 0]"
 * ```
 */

/** The index of the first value that is NaN or infinite, or -1 where every value is finite. */
export function firstNonFinite(data: ArrayLike<number>): number {
  for (let i = 0; i < data.length; i++) {
    // A finite x gives x - x === 0; NaN and ±Infinity give NaN.
    if (data[i] - data[i] !== 0) return i;
  }
  return -1;
}

/** `NaN at [i, j, ...]` (or `Infinity`, `-Infinity`): the value at flat `index` and its position in `shape`. */
export function describeNonFinite(data: ArrayLike<number>, shape: readonly number[], index: number): string {
  const position: number[] = [];
  let rest = index;
  for (let axis = shape.length - 1; axis >= 0; axis--) {
    position.unshift(rest % shape[axis]);
    rest = Math.floor(rest / shape[axis]);
  }
  return `${data[index]} at [${position.join(", ")}]`;
}
