/**
 * NumPy `.npy` files (format versions 1.0, 2.0 and 3.0), C order only.
 *
 * Reading accepts these dtypes and always returns float32:
 * - `<f4` float32: as stored;
 * - `<f8` float64: rounded to the nearest float32;
 * - `<i8` int64: converted to the nearest float32 (exact up to 2^24 in magnitude);
 * - `|u1` uint8: the numeric value 0..255 as a float (not rescaled to [0, 1]).
 *
 * Big-endian data, other dtypes, structured dtypes and `fortran_order: True` are rejected with an
 * InputError; so are truncated data and bytes left over after the array. Writing produces `<f4`.
 *
 * @example
 * ```ts
 * const bytes = writeNpy({ shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) });
 * console.log(readNpy(bytes, "x.npy").shape); // [2, 2]
 * ```
 */
import { z } from "zod";
import { InputError } from "../io/input_error.ts";
import { validated } from "../io/validated.ts";
import { sizeOf } from "../io/size_of.ts";

/** A C-order float32 array with its shape. */
export interface NpyArray {
  shape: number[];
  data: Float32Array;
}

/** The fields of a `.npy` header dictionary. */
export interface NpyHeader {
  descr: string;
  fortranOrder: boolean;
  shape: number[];
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"
const ITEM_SIZES: Record<string, number> = { "<f4": 4, "<f8": 8, "<i8": 8, "|u1": 1 };

const HeaderSchema = z.object({
  descr: z.string(),
  fortran_order: z.boolean(),
  shape: z.array(z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER)),
}).strict();

/** An integer (Python 2 headers may write `3L`) or a keyword, matched at `lastIndex` only. */
const WORD = /(-?\d+)L?|(True|False|None)\b/y;

/** How deep literals may nest: NumPy writes a dict of tuples (2); a deeper header is hostile, not a header. */
const MAX_NESTING = 16;

/** A tiny parser for the Python literal subset NumPy writes: dict, tuple, list, str, int, bool, None. */
class LiteralParser {
  private at = 0;
  /** Sequences open at `at`: bounded, so a header of nested brackets cannot exhaust the stack. */
  private depth = 0;
  constructor(private readonly text: string) {}

  parseAll(): unknown {
    const value = this.value();
    this.skipSpace();
    if (this.at !== this.text.length) throw new Error(`unexpected '${this.text[this.at]}' at ${this.at}`);
    return value;
  }

  private skipSpace(): void {
    while (this.at < this.text.length && /\s/.test(this.text[this.at])) this.at++;
  }

  private value(): unknown {
    this.skipSpace();
    const c = this.text[this.at];
    if (c === "{") return this.sequence("}", true);
    if (c === "(") return this.sequence(")", false);
    if (c === "[") return this.sequence("]", false);
    if (c === "'" || c === '"') return this.string(c);
    WORD.lastIndex = this.at;
    const word = WORD.exec(this.text);
    if (!word) throw new Error(c === undefined ? "unexpected end" : `unexpected '${c}' at ${this.at}`);
    this.at += word[0].length;
    if (word[1] !== undefined) return Number(word[1]);
    return word[2] === "True" ? true : word[2] === "False" ? false : null;
  }

  private string(quote: string): string {
    let out = "";
    for (this.at++; this.at < this.text.length; this.at++) {
      const c = this.text[this.at];
      if (c === quote) {
        this.at++;
        return out;
      }
      if (c === "\\") this.at++;
      out += this.text[this.at] ?? "";
    }
    throw new Error("unterminated string");
  }

  /** Items up to `close`, comma separated, a trailing comma allowed; `key: value` pairs for a dict. */
  private sequence(close: string, isDict: boolean): unknown {
    if (++this.depth > MAX_NESTING) throw new Error(`nested deeper than ${MAX_NESTING} levels at ${this.at}`);
    this.at++;
    const items: unknown[] = [];
    const dict: Record<string, unknown> = Object.create(null);
    for (;;) {
      this.skipSpace();
      if (this.text[this.at] === close) break;
      const item = this.value();
      if (isDict) {
        this.expect(":");
        if (typeof item !== "string") throw new Error("dict keys must be strings");
        dict[item] = this.value();
      } else {
        items.push(item);
      }
      this.skipSpace();
      if (this.text[this.at] === close) break;
      this.expect(",");
    }
    this.at++;
    this.depth--;
    return isDict ? { ...dict } : items;
  }

  private expect(token: string): void {
    this.skipSpace();
    if (this.text[this.at] !== token) throw new Error(`expected '${token}' at ${this.at}`);
    this.at++;
  }
}

/**
 * Parses the header dictionary of a `.npy` file as NumPy writes it.
 *
 * @example
 * ```ts
 * parseNpyHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", "x.npy");
 * // { descr: "<f4", fortranOrder: false, shape: [2, 3] }
 * ```
 */
export function parseNpyHeader(header: string, source: string): NpyHeader {
  let literal: unknown;
  try {
    literal = new LiteralParser(header).parseAll();
  } catch (e) {
    throw new InputError(`${source}: .npy header is not a Python dict literal (${(e as Error).message})`);
  }
  const fields = validated(HeaderSchema, literal, source, "invalid .npy header");
  return { descr: fields.descr, fortranOrder: fields.fortran_order, shape: fields.shape };
}

/** Reads the preamble: returns the header text and where the data starts. */
function readPreamble(bytes: Uint8Array, source: string): { header: string; dataStart: number } {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new InputError(`${source}: not a .npy file (missing the \\x93NUMPY magic)`);
  }
  const major = bytes[6];
  if (major < 1 || major > 3 || bytes[7] !== 0) {
    throw new InputError(`${source}: unsupported .npy format version ${major}.${bytes[7]} (1.0, 2.0, 3.0 are read)`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lengthBytes = major === 1 ? 2 : 4;
  if (bytes.length < 8 + lengthBytes) throw new InputError(`${source}: truncated .npy preamble`);
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const dataStart = 8 + lengthBytes + headerLength;
  if (dataStart > bytes.length) {
    throw new InputError(`${source}: .npy header length ${headerLength} runs past the end of the file`);
  }
  const encoding = major === 3 ? "utf-8" : "latin1";
  const header = new TextDecoder(encoding).decode(bytes.subarray(8 + lengthBytes, dataStart));
  return { header, dataStart };
}

const littleEndianHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Converts the raw little-endian data to float32. */
function toFloat32(raw: Uint8Array, descr: string, count: number): Float32Array {
  if (descr === "|u1") return Float32Array.from(raw);
  if (descr === "<f4" && littleEndianHost) return new Float32Array(raw.slice().buffer);
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const out = new Float32Array(count);
  if (descr === "<f4") { for (let i = 0; i < count; i++) out[i] = view.getFloat32(4 * i, true); }
  else if (descr === "<f8") { for (let i = 0; i < count; i++) out[i] = view.getFloat64(8 * i, true); }
  else for (let i = 0; i < count; i++) out[i] = Number(view.getBigInt64(8 * i, true));
  return out;
}

/**
 * Parses a `.npy` file into a float32 array (see the module doc for the dtypes and conversions).
 *
 * @example
 * ```ts
 * const { shape, data } = readNpy(await Deno.readFile("x.npy"), "x.npy");
 * ```
 */
export function readNpy(bytes: Uint8Array, source: string): NpyArray {
  const { header, dataStart } = readPreamble(bytes, source);
  const { descr, fortranOrder, shape } = parseNpyHeader(header, source);
  if (fortranOrder) throw new InputError(`${source}: fortran_order True is not supported (save a C-order array)`);
  if (descr.startsWith(">")) throw new InputError(`${source}: big-endian dtype ${descr} is not supported`);
  const itemSize = ITEM_SIZES[descr];
  if (itemSize === undefined) {
    throw new InputError(`${source}: unsupported dtype ${descr} (supported: ${Object.keys(ITEM_SIZES).join(", ")})`);
  }
  const count = sizeOf(shape);
  const needed = count * itemSize;
  const available = bytes.length - dataStart;
  if (available < needed) {
    throw new InputError(
      `${source}: truncated .npy data: shape (${shape}) of ${descr} needs ${needed} bytes, found ${available}`,
    );
  }
  if (available > needed) throw new InputError(`${source}: ${available - needed} unexpected bytes after the .npy data`);
  return { shape, data: toFloat32(bytes.subarray(dataStart), descr, count) };
}

/** Formats a shape as a Python tuple: `()`, `(3,)`, `(2, 3)`. */
function pythonTuple(shape: number[]): string {
  return shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
}

/**
 * Serialises a float32 array as a `.npy` file (`<f4`, C order), version 1.0 unless the header
 * needs 2.0, the preamble padded with spaces to a multiple of 64 bytes as NumPy does.
 *
 * @example
 * ```ts
 * await Deno.writeFile("x.npy", writeNpy({ shape: [1, 3], data: new Float32Array([1, 2, 3]) }));
 * ```
 */
export function writeNpy(array: NpyArray): Uint8Array {
  const count = sizeOf(array.shape);
  if (count !== array.data.length) {
    throw new RangeError(`writeNpy: shape (${array.shape}) has ${count} elements but data has ${array.data.length}`);
  }
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': ${pythonTuple(array.shape)}, }`;
  const major = dict.length + 1 + 10 > 0xffff ? 2 : 1;
  const preamble = major === 1 ? 10 : 12;
  const padded = dict + " ".repeat((64 - ((preamble + dict.length + 1) % 64)) % 64) + "\n";
  const out = new Uint8Array(preamble + padded.length + 4 * count);
  const view = new DataView(out.buffer);
  out.set(MAGIC, 0);
  out[6] = major;
  if (major === 1) view.setUint16(8, padded.length, true);
  else view.setUint32(8, padded.length, true);
  out.set(new TextEncoder().encode(padded), preamble);
  for (let i = 0; i < count; i++) view.setFloat32(preamble + padded.length + 4 * i, array.data[i], true);
  return out;
}
