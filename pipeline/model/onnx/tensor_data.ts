/**
 * The values of an ONNX TensorProto (initializer, Constant attribute), treated as hostile: the
 * declared shape gives the size, and that size is checked against what the file (or the external
 * data file) holds before anything is allocated. External data must lie inside the model's folder.
 *
 * @example
 * ```ts
 * import type { TensorProto } from "./proto.ts";
 * declare const initializer: TensorProto;
 * const t = await readTensor(initializer, { source: "net.onnx", folder: "." }, 'initializer "conv1.weight"');
 * console.log(t.shape, t.data.length);
 * ```
 */
import { openInputFile } from "../../io/files.ts";
import { InputError } from "../../io/input_error.ts";
import { insideFolder } from "../../io/contained_path.ts";
import { decodeFloats, type Dtype, DTYPE_SIZES } from "../../formats/safetensors.ts";
import { int, onnx, type TensorProto } from "./proto.ts";
import { sizeOf } from "../../io/size_of.ts";

/** A tensor's values: float32 for float types, float64 (exact) for integer types. */
export interface ConstantTensor {
  shape: number[];
  data: Float32Array | Float64Array;
  integer: boolean;
}

/** Where a tensor comes from: the model file's name (for messages) and its folder (for external data). */
export interface TensorOrigin {
  source: string;
  folder: string;
}

/** The most elements one tensor may declare (1 GiB of float32). */
export const MAX_TENSOR_ELEMENTS = 2 ** 28;

const T = onnx.TensorProto.DataType;
const FLOAT_TYPES: Partial<Record<number, Dtype>> = {
  [T.FLOAT]: "F32",
  [T.FLOAT16]: "F16",
  [T.BFLOAT16]: "BF16",
  [T.DOUBLE]: "F64",
};
/** Integer types by element size; BOOL (one byte, 0 or 1) is read as an integer so masks fold at import. */
const INT_SIZES: Partial<Record<number, number>> = { [T.INT64]: 8, [T.INT32]: 4, [T.BOOL]: 1 };

/**
 * Reads a tensor's values. `what` names it in messages (e.g. `initializer "conv1.weight"`).
 *
 * @example
 * ```ts
 * import type { TensorProto } from "./proto.ts";
 * declare const shapeInitializer: TensorProto;
 * const shape = await readTensor(shapeInitializer, { source: "net.onnx", folder: "." }, 'initializer "shape"');
 * shape.integer; // true for an int64 shape
 * ```
 */
export async function readTensor(t: TensorProto, origin: TensorOrigin, what: string): Promise<ConstantTensor> {
  const label = `${origin.source}: ${what}`;
  const shape = (t.dims ?? []).map((d) => int(d, label));
  if (shape.some((d) => d < 0)) throw new InputError(`${label}: negative dimension in [${shape}]`);
  const count = sizeOf(shape);
  if (count > MAX_TENSOR_ELEMENTS) {
    throw new InputError(`${label}: [${shape}] declares ${count} elements, over the ${MAX_TENSOR_ELEMENTS} cap`);
  }
  const type = t.dataType ?? 0;
  const floatType = FLOAT_TYPES[type];
  const intSize = INT_SIZES[type];
  const unread = unreadableType(t);
  if (unread) {
    throw new InputError(`${label}: data type ${unread} is not supported (float, double, half, int32, int64, bool)`);
  }
  const elementBytes = floatType ? DTYPE_SIZES[floatType] : intSize!;
  const raw = t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL
    ? await readExternal(t, origin, label, count * elementBytes)
    : t.rawData && t.rawData.length > 0
    ? checkedRaw(t.rawData, count * elementBytes, label)
    : null;
  if (raw) {
    return floatType
      ? { shape, data: decodeFloats(raw, floatType), integer: false }
      : { shape, data: decodeInts(raw, intSize!), integer: true };
  }
  return { shape, ...typedField(t, type, count, label) };
}

/**
 * The name of a tensor's data type when `readTensor` cannot read it (int8, bool, strings...), else undefined.
 *
 * @example
 * ```ts
 * import type { TensorProto } from "./proto.ts";
 * declare const initializer: TensorProto;
 * if (unreadableType(initializer)) console.log("quantized or non-numeric");
 * ```
 */
export function unreadableType(t: TensorProto): string | undefined {
  const type = t.dataType ?? 0;
  return FLOAT_TYPES[type] || INT_SIZES[type] ? undefined : T[type] ?? String(type);
}

function checkedRaw(raw: Uint8Array, bytes: number, label: string): Uint8Array {
  if (raw.length !== bytes) {
    throw new InputError(`${label}: shape needs ${bytes} bytes but raw_data holds ${raw.length}`);
  }
  // protobufjs may hand out a Node Buffer, whose slice() is a view of a shared pool: make it a plain Uint8Array.
  return new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
}

function decodeInts(raw: Uint8Array, size: number): Float64Array {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const out = new Float64Array(raw.length / size);
  for (let i = 0; i < out.length; i++) {
    out[i] = size === 8
      ? Number(view.getBigInt64(i * 8, true))
      : size === 4
      ? view.getInt32(i * 4, true)
      : view.getUint8(i);
  }
  return out;
}

/** Values stored in the typed repeated fields (float_data, int64_data, ...). */
function typedField(
  t: TensorProto,
  type: number,
  count: number,
  label: string,
): { data: Float32Array | Float64Array; integer: boolean } {
  const check = (length: number, field: string) => {
    if (length !== count) throw new InputError(`${label}: shape needs ${count} values but ${field} holds ${length}`);
  };
  switch (type) {
    case T.FLOAT:
      check(t.floatData?.length ?? 0, "float_data");
      return { data: Float32Array.from(t.floatData ?? []), integer: false };
    case T.DOUBLE:
      check(t.doubleData?.length ?? 0, "double_data");
      return { data: Float32Array.from(t.doubleData ?? []), integer: false };
    case T.INT64:
      check(t.int64Data?.length ?? 0, "int64_data");
      return { data: Float64Array.from(t.int64Data ?? [], (v) => int(v, label)), integer: true };
    case T.INT32:
    case T.BOOL:
      check(t.int32Data?.length ?? 0, "int32_data");
      return { data: Float64Array.from(t.int32Data ?? []), integer: true };
    default: {
      // Half and bfloat16 keep their 16-bit patterns in int32_data.
      check(t.int32Data?.length ?? 0, "int32_data");
      const bits = new Uint8Array(Uint16Array.from(t.int32Data ?? []).buffer);
      return { data: decodeFloats(bits, FLOAT_TYPES[type]!), integer: false };
    }
  }
}

/** Reads `bytes` bytes of external data after checking the path stays in the folder and the file is long enough. */
async function readExternal(t: TensorProto, origin: TensorOrigin, label: string, bytes: number): Promise<Uint8Array> {
  const entries = new Map((t.externalData ?? []).map((e) => [e.key ?? "", e.value ?? ""]));
  const location = entries.get("location");
  if (!location) throw new InputError(`${label}: external data without a location`);
  const offset = Number(entries.get("offset") ?? "0");
  const length = entries.has("length") ? Number(entries.get("length")) : bytes;
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length)) {
    throw new InputError(`${label}: external data offset/length must be non-negative integers`);
  }
  if (length !== bytes) {
    throw new InputError(`${label}: shape needs ${bytes} bytes but external data declares ${length}`);
  }
  const path = await insideFolder(origin.folder, location, `${label}: external data location`);
  const file = await openInputFile(path);
  try {
    const size = (await file.stat()).size;
    if (offset + bytes > size) {
      throw new InputError(
        `${label}: external data needs bytes ${offset}..${offset + bytes} of ${location}, which holds ${size}`,
      );
    }
    const out = new Uint8Array(bytes);
    await file.seek(offset, Deno.SeekMode.Start);
    for (let read = 0; read < bytes;) {
      const n = await file.read(out.subarray(read));
      if (n === null) throw new InputError(`${label}: ${location} ended early`);
      read += n;
    }
    return out;
  } finally {
    file.close();
  }
}
