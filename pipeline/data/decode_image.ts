/**
 * Decoding PNG and JPEG files (recognised by their magic bytes, not their names) with maintained
 * npm codecs: fast-png (every PNG colour type and bit depth; CRCs checked) and, for JPEG, either
 * jpeg-js (pure JavaScript; strict, not tolerant, decoding) or sharp (libvips with libjpeg-turbo,
 * several times faster; loaded on first use, and jpeg-js stands in where it cannot load). Anything
 * that fails to decode is an InputError naming the file. Images are refused before decoding, by
 * their headers' sizes, over 100 megapixels, over 256 MiB of decoded samples (width x height x
 * channels x bytes per sample: a small PNG of 16-bit RGBA can inflate a thousandfold), or over
 * 512 MiB as the float32 RGB planes the pixels become at their own size (about 44 megapixels).
 *
 * JPEG pixels come out as PIL's `Image.open` gives them, so that torchvision's transforms can be
 * reproduced: no colour management (an embedded ICC profile is ignored), no EXIF rotation, grey
 * stays one channel, and CMYK (read with Adobe's inverted polarity, marker or not, as both PIL and
 * libvips assume) becomes RGB by PIL's `convert("RGB")` formula. With sharp, decoding matches PIL's libjpeg-turbo exactly;
 * jpeg-js upsamples chroma and converts CMYK its own way, a few levels apart.
 *
 * @example
 * ```ts
 * const raw = decodeImage(await Deno.readFile("cat.png"), "cat.png");
 * console.log(raw.width, raw.height, raw.channels);
 * const fast = await decodeImageWith(await Deno.readFile("cat.jpg"), "cat.jpg", await jpegDecoder());
 * ```
 */
import { convertIndexedToRgb, decode as decodePng, type DecodedPng } from "fast-png";
import { decode as decodeJpeg } from "jpeg-js";
import type SharpModule from "sharp";
import { InputError } from "../io/input_error.ts";
import type { RawImage } from "./image.ts";

/** The JPEG codecs: libvips through sharp (native), or jpeg-js (JavaScript). */
export type JpegDecoder = "sharp" | "jpeg-js";

/** The file names image folders read: `.png`, `.jpg` and `.jpeg`, any letter case. */
export const IMAGE_FILE_NAME = /\.(png|jpe?g)$/i;

/** The largest image decoded, in pixels. */
export const MAX_PIXELS = 100_000_000;
/** The most bytes of decoded samples (width x height x channels x bytes per sample) an image may take. */
export const MAX_DECODED_BYTES = 256 * 2 ** 20;
/** The most bytes an image's float32 planes at its own size may take, counted as three channels. */
export const MAX_FLOAT_BYTES = 512 * 2 ** 20;

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

/** Channels a PNG colour type decodes to: palette images count as RGBA, which they may expand to. */
const PNG_CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 4, 4: 2, 6: 4 };

/**
 * Refuses, from its header's size alone, an image whose pixels, decoded samples or float32 planes
 * would be over the caps (MAX_PIXELS, MAX_DECODED_BYTES, MAX_FLOAT_BYTES).
 */
function requireDecodable(path: string, kind: string, size: ImageSize): void {
  const { width, height, channels, bytesPerSample } = size;
  const pixels = width * height;
  const what = `${path}: ${kind} of ${width}x${height}`;
  const n = (v: number) => v.toLocaleString("en");
  if (pixels > MAX_PIXELS) throw new InputError(`${what} pixels exceeds the ${n(MAX_PIXELS)}-pixel limit`);
  const decoded = pixels * channels * bytesPerSample;
  if (decoded > MAX_DECODED_BYTES) {
    throw new InputError(
      `${what}, ${channels} channel(s) of ${8 * bytesPerSample} bits, decodes to ${n(decoded)} bytes, ` +
        `over the ${n(MAX_DECODED_BYTES)}-byte limit`,
    );
  }
  const planes = pixels * 3 * Float32Array.BYTES_PER_ELEMENT;
  if (planes > MAX_FLOAT_BYTES) {
    throw new InputError(
      `${what} becomes ${n(planes)} bytes of float32 planes, over the ${n(MAX_FLOAT_BYTES)}-byte limit`,
    );
  }
}

/** What a header says an image decodes to. */
interface ImageSize {
  width: number;
  height: number;
  channels: number;
  bytesPerSample: number;
}

function pngPixels(bytes: Uint8Array, path: string): RawImage {
  if (bytes.length >= 26) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    requireDecodable(path, "PNG", {
      width: view.getUint32(16, false),
      height: view.getUint32(20, false),
      channels: PNG_CHANNELS[bytes[25]] ?? 4,
      bytesPerSample: bytes[24] === 16 ? 2 : 1,
    });
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

function jpegJsPixels(bytes: Uint8Array, path: string): RawImage {
  requireDecodable(path, "JPEG", { ...jpegFrame(bytes), channels: 3, bytesPerSample: 1 });
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
  const kind = imageKind(bytes, path);
  let raw: RawImage;
  try {
    raw = kind === "PNG" ? pngPixels(bytes, path) : jpegJsPixels(bytes, path);
  } catch (e) {
    throw corrupt(e, path, kind);
  }
  return checked(raw, path, kind);
}

/** Which kind of image the bytes hold, by magic number; anything else is an InputError. */
function imageKind(bytes: Uint8Array, path: string): "PNG" | "JPEG" {
  if (startsWith(bytes, PNG_MAGIC)) return "PNG";
  if (startsWith(bytes, JPEG_MAGIC)) return "JPEG";
  throw new InputError(`${path}: not a PNG or JPEG image`);
}

function corrupt(e: unknown, path: string, kind: string): InputError {
  return e instanceof InputError ? e : new InputError(`${path}: corrupt ${kind} image (${(e as Error).message})`);
}

function checked(raw: RawImage, path: string, kind: string): RawImage {
  if (raw.width === 0 || raw.height === 0 || raw.data.length < raw.width * raw.height * raw.channels) {
    throw new InputError(`${path}: corrupt ${kind} image (${raw.width}x${raw.height} with too little pixel data)`);
  }
  return raw;
}

/**
 * A JPEG's frame from its headers: size, and component count (1 grey, 3 colour, 4 CMYK or YCCK).
 * Without a frame header, 0x0 of 3: the decoder reports the damage.
 */
function jpegFrame(bytes: Uint8Array): { width: number; height: number; components: number } {
  let at = 2;
  while (at + 9 < bytes.length && bytes[at] === 0xff) {
    const marker = bytes[at + 1];
    if (marker === 0xff) { // fill byte
      at++;
      continue;
    }
    // SOF0..SOF15, less DHT (c4), JPG (c8) and DAC (cc), which share the range.
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      const height = (bytes[at + 5] << 8) | bytes[at + 6];
      const width = (bytes[at + 7] << 8) | bytes[at + 8];
      return { width, height, components: bytes[at + 9] };
    }
    at += 2 + ((bytes[at + 2] << 8) | bytes[at + 3]);
  }
  return { width: 0, height: 0, components: 3 };
}

/**
 * CMYK to RGB as Pillow's `cmyk2rgb` (Convert.c) computes it: (255 - k) - c (255 - k) / 255, the
 * division rounded as its MULDIV255 macro does.
 */
function cmykToRgb(cmyk: Uint8Array, pixels: number): Uint8Array {
  const rgb = new Uint8Array(pixels * 3);
  for (let p = 0; p < pixels; p++) {
    const nk = 255 - cmyk[p * 4 + 3];
    for (let c = 0; c < 3; c++) {
      const t = cmyk[p * 4 + c] * nk + 128;
      rgb[p * 3 + c] = nk - (((t >> 8) + t) >> 8);
    }
  }
  return rgb;
}

let sharpModule: Promise<typeof SharpModule | undefined> | undefined;

/** sharp, loaded once per thread; undefined where its native library cannot load here. */
function loadSharp(): Promise<typeof SharpModule | undefined> {
  sharpModule ??= import("sharp").then(
    ({ default: sharp }) => {
      sharp.cache(false); // every file is decoded once: libvips' operation cache would only hold memory
      return sharp;
    },
    () => undefined,
  );
  return sharpModule;
}

/**
 * The JPEG decoder `decodeImageWith` should use: sharp where its native library loads, else jpeg-js.
 *
 * @example
 * ```ts
 * console.log(`decoding JPEG with ${await jpegDecoder()}`);
 * ```
 */
export async function jpegDecoder(): Promise<JpegDecoder> {
  return (await loadSharp()) ? "sharp" : "jpeg-js";
}

/** Decodes a JPEG with libvips to PIL's pixels (see the module doc). */
async function sharpPixels(sharp: typeof SharpModule, bytes: Uint8Array, path: string): Promise<RawImage> {
  const frame = jpegFrame(bytes);
  const components = frame.components;
  requireDecodable(path, "JPEG", {
    ...frame,
    channels: components === 4 ? 4 : components === 1 ? 1 : 3,
    bytesPerSample: 1,
  });
  // The colourspace libvips keeps: grey and CMYK as decoded (no conversion to sRGB), else sRGB.
  const space = components === 1 ? "b-w" : components === 4 ? "cmyk" : "srgb";
  const { data, info } = await sharp(bytes, { ignoreIcc: true, failOn: "truncated", limitInputPixels: MAX_PIXELS })
    .pipelineColourspace(space)
    .toColourspace(space)
    .raw()
    .toBuffer({ resolveWithObject: true });
  const pixels = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const { width, height, channels } = info;
  if (space !== "cmyk" || channels !== 4) return { width, height, channels, maxValue: 255, data: pixels };
  return { width, height, channels: 3, maxValue: 255, data: cmykToRgb(pixels, width * height) };
}

/**
 * Decodes a PNG or JPEG file to interleaved pixels, JPEG with the given decoder (`jpegDecoder()`
 * says which one this machine can load).
 *
 * @example
 * ```ts
 * const path = "val/n01440764/ILSVRC2012_val_00000293.JPEG";
 * const raw = await decodeImageWith(await Deno.readFile(path), path, "sharp");
 * ```
 */
export async function decodeImageWith(bytes: Uint8Array, path: string, decoder: JpegDecoder): Promise<RawImage> {
  const kind = imageKind(bytes, path);
  const sharp = kind === "JPEG" && decoder === "sharp" ? await loadSharp() : undefined;
  if (!sharp) return decodeImage(bytes, path);
  let raw: RawImage;
  try {
    raw = await sharpPixels(sharp, bytes, path);
  } catch (e) {
    throw corrupt(e, path, kind);
  }
  return checked(raw, path, kind);
}
