/**
 * IDX files (the MNIST format): bytes 0-1 zero, byte 2 the element type (only 0x08, unsigned
 * byte, is read), byte 3 the number of dimensions, then each dimension as a big-endian uint32,
 * then the elements in C order. Gzip-compressed input (magic 1f 8b) is decompressed as a stream.
 *
 * The data must be exactly as long as the dimensions say: a short (truncated) or long file, a bad
 * magic, another element type or corrupt gzip data is an InputError naming the file.
 *
 * @example
 * ```ts
 * const labels = await decodeIdx(await Deno.readFile("t10k-labels-idx1-ubyte.gz"), "labels");
 * console.log(labels.shape); // [10000]
 * ```
 */
import { InputError } from "../io/input_error.ts";
import { sizeOf } from "../io/size_of.ts";

/** An IDX array of unsigned bytes, C order. */
export interface IdxArray {
  shape: number[];
  data: Uint8Array;
}

/** The largest IDX payload accepted (bytes), checked before anything is allocated. */
export const MAX_IDX_BYTES = 2 ** 30;

const UBYTE = 0x08;

interface IdxHeader {
  shape: number[];
  headerLength: number;
  dataLength: number;
}

/** Parses the header from a prefix of the (uncompressed) file; undefined if the prefix is too short. */
function idxHeader(prefix: Uint8Array, source: string): IdxHeader | undefined {
  if (prefix.length >= 2 && (prefix[0] !== 0 || prefix[1] !== 0)) {
    throw new InputError(`${source}: not an IDX file (the first two bytes must be zero)`);
  }
  if (prefix.length < 4) return undefined;
  if (prefix[2] !== UBYTE) {
    throw new InputError(
      `${source}: unsupported IDX element type 0x${prefix[2].toString(16).padStart(2, "0")} (only 0x08, unsigned byte)`,
    );
  }
  const dims = prefix[3];
  if (dims === 0) throw new InputError(`${source}: IDX header declares 0 dimensions`);
  const headerLength = 4 + 4 * dims;
  if (prefix.length < headerLength) return undefined;
  const view = new DataView(prefix.buffer, prefix.byteOffset, headerLength);
  const shape = Array.from({ length: dims }, (_, i) => view.getUint32(4 + 4 * i, false));
  const dataLength = sizeOf(shape);
  if (dataLength > MAX_IDX_BYTES) {
    throw new InputError(`${source}: IDX shape ${shape.join("x")} exceeds the ${MAX_IDX_BYTES}-byte limit`);
  }
  return { shape, headerLength, dataLength };
}

/** Checks the payload length against the header. */
function checkLength(header: IdxHeader, available: number, source: string): void {
  if (available === header.dataLength) return;
  const what = available < header.dataLength ? "truncated" : "too long";
  throw new InputError(
    `${source}: ${what} IDX data: shape ${header.shape.join("x")} needs ${header.dataLength} bytes, found ${available}`,
  );
}

/**
 * Parses an uncompressed IDX file. The returned data is a view into `bytes` (no copy).
 *
 * @example
 * ```ts
 * const { shape, data } = parseIdx(new Uint8Array([0, 0, 8, 1, 0, 0, 0, 2, 7, 9]), "x.idx");
 * // shape [2], data [7, 9]
 * ```
 */
export function parseIdx(bytes: Uint8Array, source: string): IdxArray {
  const header = idxHeader(bytes, source);
  if (!header) throw new InputError(`${source}: truncated IDX header (${bytes.length} bytes)`);
  checkLength(header, bytes.length - header.headerLength, source);
  return { shape: header.shape, data: bytes.subarray(header.headerLength) };
}

/** Concatenates chunks into one array. */
function concat(chunks: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

/** Decompresses a gzip IDX stream, checking the header as soon as it arrives and never holding more than it declares. */
async function gunzipIdx(bytes: Uint8Array, source: string): Promise<IdxArray> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  let header: IdxHeader | undefined;
  try {
    const stream = ReadableStream.from([bytes as Uint8Array<ArrayBuffer>]).pipeThrough(new DecompressionStream("gzip"));
    for await (const chunk of stream) {
      chunks.push(chunk);
      total += chunk.length;
      header ??= idxHeader(concat(chunks, total), source);
      if (header && total > header.headerLength + header.dataLength) {
        checkLength(header, total - header.headerLength, source);
      }
    }
  } catch (e) {
    if (e instanceof InputError) throw e;
    throw new InputError(`${source}: corrupt or truncated gzip data (${(e as Error).message})`);
  }
  if (!header) throw new InputError(`${source}: truncated IDX header (${total} bytes after gunzip)`);
  checkLength(header, total - header.headerLength, source);
  return { shape: header.shape, data: concat(chunks, total).subarray(header.headerLength) };
}

/**
 * Parses an IDX file, gunzipping it first when it starts with the gzip magic 1f 8b.
 *
 * @example
 * ```ts
 * const images = await decodeIdx(await Deno.readFile("train-images-idx3-ubyte.gz"), "train-images");
 * console.log(images.shape); // [60000, 28, 28]
 * ```
 */
export function decodeIdx(bytes: Uint8Array, source: string): Promise<IdxArray> {
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) return gunzipIdx(bytes, source);
  return Promise.resolve().then(() => parseIdx(bytes, source));
}

/**
 * Serialises an unsigned-byte array as an (uncompressed) IDX file.
 *
 * @example
 * ```ts
 * const bytes = encodeIdx({ shape: [2], data: new Uint8Array([7, 9]) });
 * ```
 */
export function encodeIdx(array: IdxArray): Uint8Array {
  const count = sizeOf(array.shape);
  if (count !== array.data.length || array.shape.length === 0 || array.shape.length > 255) {
    throw new RangeError(`encodeIdx: shape [${array.shape}] does not fit ${array.data.length} bytes`);
  }
  const headerLength = 4 + 4 * array.shape.length;
  const out = new Uint8Array(headerLength + count);
  const view = new DataView(out.buffer);
  out[2] = UBYTE;
  out[3] = array.shape.length;
  array.shape.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(array.data, headerLength);
  return out;
}
