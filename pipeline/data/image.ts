/**
 * Turning decoded pixels into the CHW float32 images in [0, 1] that the model boundary expects:
 * channel conversion (grey <-> RGB, alpha dropped), bilinear resize, scaling by the maximum value.
 *
 * Grey from colour uses the ITU-R BT.601 luma weights (0.299 R + 0.587 G + 0.114 B), as PIL's
 * `convert("L")` does; RGB from grey repeats the grey value. The resize samples at pixel centres
 * (half-pixel offsets, edges clamped), like PIL's and PyTorch's bilinear without antialiasing.
 *
 * @example
 * ```ts
 * const chw = toChw(
 *   { width: 2, height: 1, channels: 1, maxValue: 255, data: new Uint8Array([0, 255]) },
 *   { channels: 3, height: 2, width: 4 },
 * );
 * ```
 */

/** Interleaved (HWC) pixels as a decoder returns them; `channels` 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA. */
export interface RawImage {
  width: number;
  height: number;
  channels: number;
  maxValue: number;
  data: ArrayLike<number>;
}

/** The wanted image: channel count (1 or 3) and size. */
export interface TargetShape {
  channels: number;
  height: number;
  width: number;
}

/** Planes of the wanted channel count at the source size, scaled to [0, 1]. */
function convertChannels(raw: RawImage, channels: number): Float32Array {
  const pixels = raw.width * raw.height;
  const out = new Float32Array(channels * pixels);
  const scale = 1 / raw.maxValue;
  const colour = raw.channels >= 3;
  const stride = raw.channels;
  const d = raw.data;
  for (let p = 0; p < pixels; p++) {
    const at = p * stride;
    if (!colour) {
      const v = d[at] * scale;
      for (let c = 0; c < channels; c++) out[c * pixels + p] = v;
    } else if (channels === 1) {
      out[p] = Math.min(1, (0.299 * d[at] + 0.587 * d[at + 1] + 0.114 * d[at + 2]) * scale);
    } else {
      for (let c = 0; c < 3; c++) out[c * pixels + p] = d[at + c] * scale;
    }
  }
  return out;
}

/** Source coordinate, lower neighbour and weight for each destination coordinate along one axis. */
function axisWeights(src: number, dst: number): { lo: Int32Array; hi: Int32Array; t: Float32Array } {
  const lo = new Int32Array(dst);
  const hi = new Int32Array(dst);
  const t = new Float32Array(dst);
  for (let i = 0; i < dst; i++) {
    const s = Math.min(Math.max((i + 0.5) * (src / dst) - 0.5, 0), src - 1);
    lo[i] = Math.floor(s);
    hi[i] = Math.min(lo[i] + 1, src - 1);
    t[i] = s - lo[i];
  }
  return { lo, hi, t };
}

/** Bilinear resize of `channels` planes from sh x sw to dh x dw. */
function resizePlanes(
  src: Float32Array,
  channels: number,
  sh: number,
  sw: number,
  dh: number,
  dw: number,
): Float32Array {
  const out = new Float32Array(channels * dh * dw);
  const ys = axisWeights(sh, dh);
  const xs = axisWeights(sw, dw);
  for (let c = 0; c < channels; c++) {
    const plane = c * sh * sw;
    for (let y = 0; y < dh; y++) {
      const r0 = plane + ys.lo[y] * sw;
      const r1 = plane + ys.hi[y] * sw;
      const ty = ys.t[y];
      for (let x = 0; x < dw; x++) {
        const tx = xs.t[x];
        const top = src[r0 + xs.lo[x]] * (1 - tx) + src[r0 + xs.hi[x]] * tx;
        const bottom = src[r1 + xs.lo[x]] * (1 - tx) + src[r1 + xs.hi[x]] * tx;
        out[(c * dh + y) * dw + x] = top * (1 - ty) + bottom * ty;
      }
    }
  }
  return out;
}

/**
 * Converts decoded pixels to a CHW float32 image in [0, 1] of the target channels and size.
 *
 * @example
 * ```ts
 * const grey = toChw({ width: 1, height: 1, channels: 3, maxValue: 255, data: [255, 255, 255] }, {
 *   channels: 1,
 *   height: 1,
 *   width: 1,
 * }); // Float32Array [1]
 * ```
 */
export function toChw(raw: RawImage, target: TargetShape): Float32Array {
  const planes = convertChannels(raw, target.channels);
  if (raw.height === target.height && raw.width === target.width) return planes;
  return resizePlanes(planes, target.channels, raw.height, raw.width, target.height, target.width);
}
