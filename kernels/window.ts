/**
 * Output length of a sliding window along one axis (floor mode), shared by convolution and
 * pooling. `span` is the window's extent in input pixels (the dilated kernel for a convolution).
 * Throws an Error naming the op and axis when the output would be empty.
 */
export function windowExtent(
  op: string,
  axis: string,
  size: number,
  pad: number,
  span: { length: number; name: string },
  stride: number,
): number {
  if (size + 2 * pad < span.length) {
    throw new Error(
      `${op}: output ${axis} would be empty: input ${axis} ${size} + 2 * padding ${pad} is smaller than ` +
        `the ${span.name} ${axis} ${span.length}`,
    );
  }
  return Math.floor((size + 2 * pad - span.length) / stride) + 1;
}
