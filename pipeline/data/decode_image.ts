/**
 * Decoding PNG and JPEG files (recognised by their magic bytes, not their names) with maintained
 * npm codecs: fast-png (every PNG colour type and bit depth; CRCs checked) and jpeg-js (strict,
 * not tolerant, decoding). Anything that fails to decode is an InputError naming the file.
 * Images over 100 megapixels are refused before decoding.
 *
 * @example
 * ```ts
 * const raw = decodeImage(await Deno.readFile("cat.png"), "cat.png");
 * console.log(raw.width, raw.height, raw.channels);
 * ```
 */
import { convertIndexedToRgb, decode as decodePng, type DecodedPng } from "fast-png";
import { decode as decodeJpeg } from "jpeg-js";
import { InputError } from "../io/input_error.ts";
import type { RawImage } from "./image.ts";

/** The largest image decoded, in pixels. */
export const MAX_PIXELS = 100_000_000;

const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const JPEG_MAGIC = [0xff, 0xd8, 0xff];

function startsWith(bytes: Uint8Array, magic: number[]): boolean {
  return bytes.length >= magic.length && magic.every((b, i) => bytes[i] === b);
}

/** Unpacks greyscale samples of 1, 2 or 4 bits (rows padded to whole bytes) to one byte each. */
function unpackBits(png: DecodedPng): Uint8Array {
  const { width, height, depth } = png;
  const rowBytes = Math.ceil((width * depth) / 8);
  const out = new Uint8Array(width * height);
  const mask = (1 << depth) - 1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const bit = x * depth;
      out[y * width + x] = (png.data[y * rowBytes + (bit >> 3)] >> (8 - depth - (bit & 7))) & mask;
    }
  }
  return out;
}

function pngPixels(bytes: Uint8Array, path: string): RawImage {
  if (bytes.length >= 24) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const pixels = view.getUint32(16, false) * view.getUint32(20, false);
    if (pixels > MAX_PIXELS) throw new InputError(`${path}: PNG of ${pixels} pixels exceeds the ${MAX_PIXELS} limit`);
  }
  const png = decodePng(bytes, { checkCrc: true });
  const { width, height } = png;
  if (png.palette) {
    const channels = png.palette[0]?.length ?? 3;
    return { width, height, channels, maxValue: 255, data: convertIndexedToRgb(png) };
  }
  if (png.depth < 8) {
    return { width, height, channels: png.channels, maxValue: (1 << png.depth) - 1, data: unpackBits(png) };
  }
  return { width, height, channels: png.channels, maxValue: png.depth === 16 ? 65535 : 255, data: png.data };
}

function jpegPixels(bytes: Uint8Array): RawImage {
  const jpeg = decodeJpeg(bytes, {
    useTArray: true,
    formatAsRGBA: false,
    tolerantDecoding: false,
    maxResolutionInMP: MAX_PIXELS / 1e6,
    maxMemoryUsageInMB: 1024,
  });
  return { width: jpeg.width, height: jpeg.height, channels: 3, maxValue: 255, data: jpeg.data };
}

/**
 * Decodes a PNG or JPEG file to interleaved pixels.
 *
 * @example
 * ```ts
 * const path = "images/cat/001.jpg";
 * const { width, height, channels, data } = decodeImage(await Deno.readFile(path), path);
 * ```
 */
export function decodeImage(bytes: Uint8Array, path: string): RawImage {
  const kind = startsWith(bytes, PNG_MAGIC) ? "PNG" : startsWith(bytes, JPEG_MAGIC) ? "JPEG" : undefined;
  if (!kind) throw new InputError(`${path}: not a PNG or JPEG image`);
  let raw: RawImage;
  try {
    raw = kind === "PNG" ? pngPixels(bytes, path) : jpegPixels(bytes);
  } catch (e) {
    if (e instanceof InputError) throw e;
    throw new InputError(`${path}: corrupt ${kind} image (${(e as Error).message})`);
  }
  if (raw.width === 0 || raw.height === 0 || raw.data.length < raw.width * raw.height * raw.channels) {
    throw new InputError(`${path}: corrupt ${kind} image (${raw.width}x${raw.height} with too little pixel data)`);
  }
  return raw;
}
