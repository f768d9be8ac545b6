/**
 * The width and height of a report picture, read from its header without decoding it: a PNG's
 * IHDR chunk, a JPEG's start-of-frame marker. The page states every image's size, so it is laid
 * out before any image loads.
 *
 * @example
 * ```ts
 * const path = "assets/mistake-12.jpg";
 * const { width, height } = pictureSize(path, "jpg", await Deno.readFile(`audit-report/${path}`));
 * ```
 */
import type { AssetFormat } from "../schema/asset_path.ts";

/** A picture's size in pixels. */
export interface PictureSize {
  width: number;
  height: number;
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** Width and height of a PNG, from its IHDR chunk (the first, right after the signature). */
function pngSize(path: string, bytes: Uint8Array): PictureSize {
  if (bytes.length < 24 || PNG_SIGNATURE.some((b, i) => bytes[i] !== b)) {
    throw new Error(`report html: asset ${path} is not a PNG file`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { width: view.getUint32(16), height: view.getUint32(20) };
}

/** Start-of-frame markers (baseline, progressive, lossless, ...): 0xC0-0xCF but DHT, JPG and DAC. */
const isStartOfFrame = (marker: number) =>
  marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;

/** Width and height of a JPEG, from its first start-of-frame segment (after APPn, DQT and the like). */
function jpegSize(path: string, bytes: Uint8Array): PictureSize {
  const fail = (why: string) => new Error(`report html: asset ${path} is not a JPEG file (${why})`);
  if (bytes[0] !== 0xff || bytes[1] !== 0xd8) throw fail("no SOI marker");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 2;
  while (at + 4 <= bytes.length) {
    if (bytes[at] !== 0xff) throw fail(`no marker at byte ${at}`);
    const marker = bytes[at + 1];
    if (marker === 0xff) { // fill byte before a marker
      at++;
      continue;
    }
    if (marker === 0xd9 || marker === 0xda) break; // end of image, or scan data before any frame header
    const length = view.getUint16(at + 2);
    if (isStartOfFrame(marker)) {
      if (at + 9 > bytes.length) break;
      return { height: view.getUint16(at + 5), width: view.getUint16(at + 7) };
    }
    at += 2 + length;
  }
  throw fail("no start-of-frame marker");
}

/** The size of the picture `bytes` in `format` (`path` names it in errors). */
export function pictureSize(path: string, format: AssetFormat, bytes: Uint8Array): PictureSize {
  return format === "png" ? pngSize(path, bytes) : jpegSize(path, bytes);
}
