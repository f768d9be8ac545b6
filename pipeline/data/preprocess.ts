/**
 * torchvision's evaluation transform, `Resize(resize)`, `CenterCrop(crop)`, `ToTensor()`, on an image
 * opened by PIL and converted to RGB, reproduced to the 8-bit value:
 *
 * - Resize: the shorter side becomes `resize`, the longer `int(resize * long / short)` (torchvision
 *   0.14's `_compute_resized_output_size`); an image already that size is left alone.
 * - PIL's antialiased resampling (`Image.resize`, Pillow's Resample.c): a horizontal pass, then a
 *   vertical one, each a filter whose support widens by the downscale factor, coefficients normalised
 *   to sum 1 and rounded to 22-bit fixed point, every pass's result rounded and clipped to 8 bits.
 * - CenterCrop: top and left offsets `int(round((size - crop) / 2))` with Python's round half to even.
 *   Only the cropped window is resampled: its pixels are the same as those of the whole resize.
 * - RGB: grey repeated (resampled once, as the three equal channels would be), alpha dropped.
 * - ToTensor: CHW float32, value / 255.
 *
 * @example
 * ```ts
 * const raw = { width: 500, height: 375, channels: 3, maxValue: 255, data: new Uint8Array(500 * 375 * 3) };
 * const chw = preprocessImage(raw, { resize: 256, crop: 224, interpolation: "bilinear" });
 * console.log(chw.length); // 3 * 224 * 224
 * ```
 */
import type { Preprocess } from "../schema/preprocess.ts";
import type { RawImage } from "./image.ts";

/** Pillow's fixed-point precision for 8-bit resampling: 32 bits less 8 for the value and 2 for overflow. */
const PRECISION_BITS = 22;

/** Pillow's resampling filters: the kernel and its support at scale 1. */
const FILTERS: Record<Preprocess["interpolation"], { kernel: (x: number) => number; support: number }> = {
  bilinear: {
    kernel: (x) => {
      x = Math.abs(x);
      return x < 1 ? 1 - x : 0;
    },
    support: 1,
  },
  bicubic: { // Keys' cubic convolution with a = -0.5, written as Pillow writes it
    kernel: (x) => {
      const a = -0.5;
      x = Math.abs(x);
      if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
      if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
      return 0;
    },
    support: 2,
  },
};

/** One axis of a resample: for each output position its first input, tap count and fixed-point weights. */
interface AxisCoefficients {
  first: Int32Array;
  taps: Int32Array;
  /** `stride` weights per output position. */
  weights: Int32Array;
  stride: number;
}

/** Pillow's `precompute_coeffs` followed by `normalize_coeffs_8bpc`, for the whole axis. */
function axisCoefficients(inSize: number, outSize: number, filter: (typeof FILTERS)["bilinear"]): AxisCoefficients {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filter.support * filterScale;
  const stride = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(outSize);
  const taps = new Int32Array(outSize);
  const weights = new Int32Array(outSize * stride);
  const k = new Float64Array(stride);
  const ss = 1 / filterScale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    // C's (int) cast truncates toward zero; a negative start is then clamped anyway.
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      k[x] = filter.kernel((x + xmin - center + 0.5) * ss);
      ww += k[x];
    }
    for (let x = 0; x < xmax; x++) {
      const w = ww !== 0 ? k[x] / ww : k[x];
      weights[xx * stride + x] = Math.trunc(w < 0 ? -0.5 + w * (1 << PRECISION_BITS) : 0.5 + w * (1 << PRECISION_BITS));
    }
    first[xx] = xmin;
    taps[xx] = xmax;
  }
  return { first, taps, weights, stride };
}

/** Pillow's `clip8`: the fixed-point sum back to a byte. */
function clip8(sum: number): number {
  const v = sum >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

const ROUNDING = 1 << (PRECISION_BITS - 1);

/**
 * The size torchvision's `Resize(resize)` gives an image of `height` x `width`: [height, width].
 *
 * @example
 * ```ts
 * resizedSize(375, 500, 256); // [256, 341]
 * ```
 */
export function resizedSize(height: number, width: number, resize: number): [number, number] {
  const short = Math.min(height, width);
  const long = Math.max(height, width);
  const newLong = Math.trunc((resize * long) / short);
  return width <= height ? [newLong, resize] : [resize, newLong];
}

/** Python's round() of a multiple of one half: halves go to the even neighbour. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * torchvision's `CenterCrop` offset along an axis of `size` for a crop of `crop` (not larger).
 *
 * @example
 * ```ts
 * centreCropOffset(341, 224); // round(58.5) = 58, as Python rounds
 * ```
 */
export function centreCropOffset(size: number, crop: number): number {
  return roundHalfEven((size - crop) / 2);
}

/** The image's samples as 8-bit values, interleaved as stored: the data itself where it is bytes already. */
function bytes8(raw: RawImage): Uint8Array {
  if (raw.maxValue === 255 && raw.data instanceof Uint8Array) return raw.data;
  // Other depths (16-bit and 1-, 2-, 4-bit PNGs) are scaled to 8 bits.
  const scale = 255 / raw.maxValue;
  return Uint8Array.from(raw.data, (v) => Math.round(v * scale));
}

/**
 * The horizontal pass over channel `channel` of interleaved samples: `rows` input rows from
 * `rowFirst`, output columns `left` .. `left + crop`.
 */
function resampleRows(
  src: Uint8Array,
  width: number,
  channels: number,
  channel: number,
  rowFirst: number,
  rows: number,
  xs: AxisCoefficients,
  left: number,
  crop: number,
  dst: Uint8Array,
): void {
  const { first, taps, weights, stride } = xs;
  for (let r = 0; r < rows; r++) {
    const row = (rowFirst + r) * width;
    for (let x = 0; x < crop; x++) {
      const xx = left + x;
      const from = (row + first[xx]) * channels + channel;
      const w = xx * stride;
      const n = taps[xx];
      let sum = ROUNDING;
      for (let t = 0; t < n; t++) sum += src[from + t * channels] * weights[w + t];
      dst[r * crop + x] = clip8(sum);
    }
  }
}

/** The vertical pass over the horizontal one's rows (the first is input row `rowFirst`), scaled to [0, 1]. */
function resampleColumns(
  src: Uint8Array,
  crop: number,
  rowFirst: number,
  ys: AxisCoefficients,
  top: number,
  sums: Int32Array,
  dst: Float32Array,
): void {
  const { first, taps, weights, stride } = ys;
  for (let y = 0; y < crop; y++) {
    const yy = top + y;
    const from = first[yy] - rowFirst;
    sums.fill(ROUNDING);
    for (let t = 0; t < taps[yy]; t++) {
      const row = (from + t) * crop;
      const w = weights[yy * stride + t];
      for (let x = 0; x < crop; x++) sums[x] += src[row + x] * w;
    }
    for (let x = 0; x < crop; x++) dst[y * crop + x] = clip8(sums[x]) / 255;
  }
}

/**
 * Resizes an image as torchvision's `Resize(p.resize)` with PIL, centre-crops `p.crop` x `p.crop`,
 * and returns it as a 3 x crop x crop CHW float32 image in [0, 1] (see the module doc).
 *
 * @example
 * ```ts
 * const grey = { width: 300, height: 400, channels: 1, maxValue: 255, data: new Uint8Array(300 * 400).fill(255) };
 * preprocessImage(grey, { resize: 256, crop: 224, interpolation: "bicubic" }).every((v) => v === 1); // true
 * ```
 */
export function preprocessImage(raw: RawImage, p: Preprocess): Float32Array {
  const [outH, outW] = resizedSize(raw.height, raw.width, p.resize);
  const top = centreCropOffset(outH, p.crop);
  const left = centreCropOffset(outW, p.crop);
  const { crop } = p;
  const filter = FILTERS[p.interpolation];
  const src = bytes8(raw);
  const colours = raw.channels >= 3 ? 3 : 1; // alpha, the last channel, is left out
  const resized = raw.height !== outH || raw.width !== outW;
  const xs = axisCoefficients(raw.width, outW, filter);
  const ys = axisCoefficients(raw.height, outH, filter);
  // The input rows the cropped output rows read, as Pillow's ybox_first .. ybox_last.
  const rowFirst = ys.first[top];
  const rowEnd = ys.first[top + crop - 1] + ys.taps[top + crop - 1];
  const rows = rowEnd - rowFirst;
  const out = new Float32Array(3 * crop * crop);
  const plane = crop * crop;
  const across = new Uint8Array(rows * crop);
  const sums = new Int32Array(crop);
  const { width, channels } = raw;
  for (let c = 0; c < colours; c++) {
    const dst = out.subarray(c * plane, (c + 1) * plane);
    if (!resized) {
      for (let y = 0; y < crop; y++) {
        for (let x = 0; x < crop; x++) dst[y * crop + x] = src[((top + y) * width + left + x) * channels + c] / 255;
      }
      continue;
    }
    resampleRows(src, width, channels, c, rowFirst, rows, xs, left, crop, across);
    resampleColumns(across, crop, rowFirst, ys, top, sums, dst);
  }
  // Grey: the other two channels equal the first.
  for (let c = colours; c < 3; c++) out.copyWithin(c * plane, 0, plane);
  return out;
}
