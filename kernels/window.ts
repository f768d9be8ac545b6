/**
 * Output length of a sliding window along one axis, shared by convolution and pooling. `span` is
 * the window's extent in input pixels (the dilated kernel). Padding may differ before and after
 * (`padAfter`, default `pad`). In ceil mode a partial last window counts too, as long as it starts
 * inside the input or its leading padding (PyTorch's rule, which ONNX exporters follow). Throws an
 * Error naming the op and axis when the output would be empty.
 *
 * @example
 * ```ts
 * windowExtent("pool", "height", 112, 0, { length: 3, name: "kernel" }, 2); // 55
 * windowExtent("pool", "height", 112, 0, { length: 3, name: "kernel" }, 2, { ceil: true }); // 56
 * ```
 */
export function windowExtent(
  op: string,
  axis: string,
  size: number,
  pad: number,
  span: { length: number; name: string },
  stride: number,
  options: { padAfter?: number; ceil?: boolean } = {},
): number {
  const padAfter = options.padAfter ?? pad;
  if (size + pad + padAfter < span.length) {
    const padding = padAfter === pad ? `2 * padding ${pad}` : `padding ${pad} + ${padAfter}`;
    throw new Error(
      `${op}: output ${axis} would be empty: input ${axis} ${size} + ${padding} is smaller than ` +
        `the ${span.name} ${axis} ${span.length}`,
    );
  }
  const room = size + pad + padAfter - span.length;
  if (!options.ceil) return Math.floor(room / stride) + 1;
  const out = Math.ceil(room / stride) + 1;
  return (out - 1) * stride >= size + pad ? out - 1 : out;
}
