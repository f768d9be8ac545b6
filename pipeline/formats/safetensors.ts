/**
 * The safetensors format (https://github.com/huggingface/safetensors): an 8-byte little-endian
 * header length N, N bytes of JSON header, then the data area that the header's `data_offsets`
 * (relative to the start of the data area) index.
 *
 * Reading treats the file as hostile: the header length is checked against the file size and a
 * 100 MB cap before anything is allocated, the header is validated with zod, and every tensor's
 * dtype, shape, size and offsets are checked. Following the spec strictly, the tensors must cover
 * the data area exactly: overlapping ranges, gaps between tensors and unused trailing bytes are all
 * rejected. F32, F16, BF16 and F64 are read (converted to float32, F64 rounding to nearest); any
 * other dtype is rejected. Writing produces F32 only.
 *
 * @example
 * ```ts
 * const bytes = writeSafetensors({ w: { shape: [2], data: new Float32Array([1, 2]) } });
 * const tensors = readSafetensors(bytes, "w.safetensors");
 * console.log(tensors.get("w")?.shape); // [2]
 * ```
 */
import { z } from "zod";
import { InputError } from "../io/input_error.ts";
import { parseJson } from "../io/json_text.ts";
import { sizeOf } from "../io/size_of.ts";

/** A tensor as read: always float32 in memory, whatever dtype the file stored. */
export interface SafetensorsTensor {
  dtype: "F32";
  shape: number[];
  data: Float32Array;
}

/** A tensor to write. */
export interface TensorToWrite {
  shape: number[];
  data: Float32Array;
}

/** The largest JSON header accepted (bytes). */
export const MAX_HEADER_BYTES = 100_000_000;

/** Bytes per element of each float dtype read. */
export const DTYPE_SIZES = { F32: 4, F16: 2, BF16: 2, F64: 8 } as const;
/** A float dtype read: 32-bit, half, bfloat16 or 64-bit. */
export type Dtype = keyof typeof DTYPE_SIZES;

const offset = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const TensorEntrySchema = z.object({
  dtype: z.string(),
  shape: z.array(offset),
  data_offsets: z.tuple([offset, offset]),
}).strict();
const MetadataSchema = z.record(z.string(), z.string());

interface Entry {
  name: string;
  dtype: Dtype;
  shape: number[];
  begin: number;
  end: number;
}

/** Describes the first zod issue in one short phrase. */
function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  return `${issue.path.length > 0 ? issue.path.join(".") + ": " : ""}${issue.message}`;
}

/** Reads and validates the JSON header; returns the entries and where the data area starts. */
function parseHeader(bytes: Uint8Array, source: string): { entries: Entry[]; dataStart: number } {
  if (bytes.length < 8) {
    throw new InputError(`${source}: truncated safetensors file (${bytes.length} bytes, no header)`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength > BigInt(bytes.length - 8)) {
    throw new InputError(
      `${source}: safetensors header length ${headerLength} runs past the end of the file (${bytes.length} bytes)`,
    );
  }
  if (headerLength > BigInt(MAX_HEADER_BYTES)) {
    throw new InputError(
      `${source}: safetensors header length ${headerLength} exceeds the ${MAX_HEADER_BYTES}-byte cap`,
    );
  }
  const dataStart = 8 + Number(headerLength);
  let header: string;
  try {
    header = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, dataStart));
  } catch {
    throw new InputError(`${source}: safetensors header is not valid UTF-8`);
  }
  const json = parseJson(header, `${source}: safetensors header`);
  // Iterated as parsed (not through a zod record, which would drop a tensor named "__proto__").
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new InputError(`${source}: safetensors header must be a JSON object`);
  }
  const entries: Entry[] = [];
  for (const [name, value] of Object.entries(json)) {
    if (name === "__metadata__") {
      const meta = MetadataSchema.safeParse(value);
      if (!meta.success) throw new InputError(`${source}: __metadata__ must map strings to strings`);
      continue;
    }
    const parsed = TensorEntrySchema.safeParse(value);
    if (!parsed.success) {
      throw new InputError(`${source}: tensor '${name}': invalid entry (${firstIssue(parsed.error)})`);
    }
    const { dtype, shape, data_offsets: [begin, end] } = parsed.data;
    if (!Object.hasOwn(DTYPE_SIZES, dtype)) {
      throw new InputError(
        `${source}: tensor '${name}': unsupported dtype ${dtype} (supported: ${Object.keys(DTYPE_SIZES).join(", ")})`,
      );
    }
    entries.push({ name, dtype: dtype as Dtype, shape, begin, end });
  }
  return { entries, dataStart };
}

/** Checks sizes and that the tensors tile the data area exactly (no overlap, no gap). */
function checkLayout(entries: Entry[], dataLength: number, source: string): void {
  for (const e of entries) {
    if (e.end < e.begin) {
      throw new InputError(`${source}: tensor '${e.name}': data_offsets end ${e.end} < begin ${e.begin}`);
    }
    if (e.end > dataLength) {
      throw new InputError(
        `${source}: tensor '${e.name}': data_offsets [${e.begin}, ${e.end}] run past the data area (${dataLength} bytes)`,
      );
    }
    const bytesNeeded = sizeOf(e.shape) * DTYPE_SIZES[e.dtype];
    if (bytesNeeded !== e.end - e.begin) {
      throw new InputError(
        `${source}: tensor '${e.name}': shape [${e.shape}] of ${e.dtype} needs ${bytesNeeded} bytes but data_offsets span ${
          e.end - e.begin
        }`,
      );
    }
  }
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let position = 0;
  let previous = "";
  for (const e of sorted) {
    if (e.begin < position) throw new InputError(`${source}: tensor '${e.name}' overlaps tensor '${previous}'`);
    if (e.begin > position) {
      throw new InputError(`${source}: gap of ${e.begin - position} unused bytes before tensor '${e.name}'`);
    }
    position = e.end;
    previous = e.name;
  }
  if (position !== dataLength) {
    throw new InputError(`${source}: ${dataLength - position} unused bytes after the last tensor`);
  }
}

const littleEndianHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Converts an IEEE half-precision bit pattern to a number. */
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/**
 * Decodes little-endian values of `dtype` into float32 (a copy, never a view of the file); the
 * bytes may sit at any alignment. ONNX initializers share it.
 *
 * @example
 * ```ts
 * decodeFloats(new Uint8Array([0, 0, 128, 63]), "F32"); // Float32Array [1]
 * ```
 */
export function decodeFloats(bytes: Uint8Array, dtype: Dtype): Float32Array {
  const count = bytes.length / DTYPE_SIZES[dtype];
  if (dtype === "F32" && littleEndianHost) return new Float32Array(bytes.slice().buffer);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(count);
  const bits = new DataView(new ArrayBuffer(4));
  for (let i = 0; i < count; i++) {
    switch (dtype) {
      case "F32":
        out[i] = view.getFloat32(i * 4, true);
        break;
      case "F64":
        out[i] = view.getFloat64(i * 8, true);
        break;
      case "F16":
        out[i] = halfToFloat(view.getUint16(i * 2, true));
        break;
      case "BF16":
        bits.setUint32(0, view.getUint16(i * 2, true) << 16);
        out[i] = bits.getFloat32(0);
        break;
    }
  }
  return out;
}

/**
 * Parses a safetensors file, rejecting malformed or hostile input with an InputError that names
 * `source` and the problem. Every tensor comes back as float32.
 *
 * @example
 * ```ts
 * const tensors = readSafetensors(await Deno.readFile("weights.safetensors"), "weights.safetensors");
 * ```
 */
export function readSafetensors(bytes: Uint8Array, source: string): Map<string, SafetensorsTensor> {
  const { entries, dataStart } = parseHeader(bytes, source);
  checkLayout(entries, bytes.length - dataStart, source);
  const tensors = new Map<string, SafetensorsTensor>();
  for (const e of entries) {
    const raw = bytes.subarray(dataStart + e.begin, dataStart + e.end);
    tensors.set(e.name, { dtype: "F32", shape: [...e.shape], data: decodeFloats(raw, e.dtype) });
  }
  return tensors;
}

/**
 * Serialises float32 tensors as safetensors: tensors sorted by name, laid out back to back, the
 * JSON header padded with spaces so the data area starts on an 8-byte boundary. `metadata`
 * becomes the `__metadata__` entry.
 *
 * @example
 * ```ts
 * await Deno.writeFile("w.safetensors", writeSafetensors(new Map([["b", { shape: [1], data: new Float32Array(1) }]])));
 * ```
 */
export function writeSafetensors(
  tensors: Map<string, TensorToWrite> | Record<string, TensorToWrite>,
  metadata?: Record<string, string>,
): Uint8Array {
  const list = (tensors instanceof Map ? [...tensors] : Object.entries(tensors))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const header: Record<string, unknown> = Object.create(null);
  if (metadata) header.__metadata__ = metadata;
  let position = 0;
  for (const [name, t] of list) {
    if (name === "__metadata__") throw new RangeError("writeSafetensors: '__metadata__' is not a valid tensor name");
    const count = sizeOf(t.shape);
    if (count !== t.data.length) {
      throw new RangeError(`writeSafetensors: tensor '${name}' has shape [${t.shape}] but ${t.data.length} values`);
    }
    header[name] = { dtype: "F32", shape: t.shape, data_offsets: [position, position + 4 * count] };
    position += 4 * count;
  }
  let json = JSON.stringify(header);
  const encoder = new TextEncoder();
  const jsonLength = encoder.encode(json).length;
  json += " ".repeat((8 - (jsonLength % 8)) % 8);
  const headerBytes = encoder.encode(json);
  const out = new Uint8Array(8 + headerBytes.length + position);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const [, t] of list) {
    if (littleEndianHost) out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    else for (let i = 0; i < t.data.length; i++) view.setFloat32(at + 4 * i, t.data[i], true);
    at += 4 * t.data.length;
  }
  return out;
}
