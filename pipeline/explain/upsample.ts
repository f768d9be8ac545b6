/**
 * Bilinear resizing of small maps to the input's size, with half-pixel centres (PyTorch's
 * `interpolate(mode="bilinear", align_corners=False)`, OpenCV's `resize`): a coarse CAM cell
 * covers the input pixels it came from. Done on the host: a CAM is a few dozen cells.
 *
 * @example
 * ```ts
 * const big = upsampleBilinear(Float32Array.from([0, 1, 2, 3]), 1, 2, 2, 4, 4);
 * console.log(big.length, big[0], big[15]); // 16 0 3
 * ```
 */

/** Source index and weight of the next index for each of `out` positions over `size` inputs. */
function axisWeights(size: number, out: number): { low: Int32Array; high: Int32Array; t: Float64Array } {
  const low = new Int32Array(out), high = new Int32Array(out), t = new Float64Array(out);
  const scale = size / out;
  for (let i = 0; i < out; i++) {
    const source = Math.max(0, (i + 0.5) * scale - 0.5);
    low[i] = Math.min(size - 1, Math.floor(source));
    high[i] = Math.min(size - 1, low[i] + 1);
    t[i] = source - low[i];
  }
  return { low, high, t };
}

/** `count` maps of `height` x `width`, back to back, resized to `outHeight` x `outWidth`. */
export function upsampleBilinear(
  maps: ArrayLike<number>,
  count: number,
  height: number,
  width: number,
  outHeight: number,
  outWidth: number,
): Float32Array {
  const rows = axisWeights(height, outHeight), columns = axisWeights(width, outWidth);
  const out = new Float32Array(count * outHeight * outWidth);
  for (let b = 0; b < count; b++) {
    const from = b * height * width;
    for (let y = 0; y < outHeight; y++) {
      const r0 = from + rows.low[y] * width, r1 = from + rows.high[y] * width, ty = rows.t[y];
      for (let x = 0; x < outWidth; x++) {
        const c0 = columns.low[x], c1 = columns.high[x], tx = columns.t[x];
        const top = maps[r0 + c0] * (1 - tx) + maps[r0 + c1] * tx;
        const bottom = maps[r1 + c0] * (1 - tx) + maps[r1 + c1] * tx;
        out[(b * outHeight + y) * outWidth + x] = top * (1 - ty) + bottom * ty;
      }
    }
  }
  return out;
}
