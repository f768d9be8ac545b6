/**
 * The ONNX protobuf messages (onnx-proto's generated protobufjs code for onnx.proto), decoding
 * that turns a truncated or foreign file into an InputError, and typed access to node attributes.
 *
 * @example
 * ```ts
 * const model = decodeModel(await Deno.readFile("net.onnx"), "net.onnx");
 * console.log(model.graph?.node?.length);
 * ```
 */
import onnxProto from "onnx-proto";
import { InputError } from "../../io/input_error.ts";
import { checkNesting } from "./nesting.ts";

export const onnx = onnxProto.onnx;
export type ModelProto = onnxProto.onnx.IModelProto;
export type NodeProto = onnxProto.onnx.INodeProto;
export type TensorProto = onnxProto.onnx.ITensorProto;
export type ValueInfoProto = onnxProto.onnx.IValueInfoProto;
export type AttributeProto = onnxProto.onnx.IAttributeProto;

/** An int64 field as protobufjs decodes it: a number, or a Long when the `long` package is present. */
export type Int64 = number | { toNumber(): number; toString(): string };

/**
 * An int64 as a JavaScript number; a value beyond 2^53 is an InputError (no sane size or index is).
 *
 * @example
 * ```ts
 * declare const tensor: TensorProto;
 * const dims = (tensor.dims ?? []).map((d) => int(d, "tensor dims"));
 * ```
 */
export function int(value: Int64 | null | undefined, what: string): number {
  const n = value === null || value === undefined ? 0 : typeof value === "number" ? value : Number(value.toString());
  if (!Number.isSafeInteger(n)) throw new InputError(`${what}: integer ${String(value)} is out of range`);
  return n;
}

/**
 * Decodes an ONNX model. protobufjs checks every length against the buffer, so a truncated file
 * fails here (or lacks its graph) and becomes an InputError naming `source`; so does a file whose
 * messages nest too deeply for the recursive decoder (nesting.ts).
 *
 * @example
 * ```ts
 * const model = decodeModel(await Deno.readFile("model.onnx"), "model.onnx");
 * ```
 */
export function decodeModel(bytes: Uint8Array, source: string): onnxProto.onnx.ModelProto {
  checkNesting(bytes, source);
  let model: onnxProto.onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (e) {
    // protobufjs decodes nested messages by recursion; checkNesting has refused depths it cannot take.
    throw new InputError(`${source}: not a readable ONNX model, truncated or corrupt (${(e as Error).message})`);
  }
  if (!model.graph || (model.graph.node ?? []).length === 0) {
    throw new InputError(`${source}: not an ONNX model, or truncated: it holds no graph nodes`);
  }
  return model;
}

const AttributeType = onnx.AttributeProto.AttributeType;

/** A node's attributes by name, read with the type each op's spec gives them. */
export class Attributes {
  readonly #byName = new Map<string, AttributeProto>();

  constructor(node: NodeProto) {
    for (const a of node.attribute ?? []) this.#byName.set(a.name ?? "", a);
  }

  /** Attribute names present that `known` does not list. */
  unknown(known: readonly string[]): string[] {
    return [...this.#byName.keys()].filter((name) => !known.includes(name));
  }

  has(name: string): boolean {
    return this.#byName.has(name);
  }

  int(name: string, fallback: number): number {
    const a = this.#get(name, AttributeType.INT);
    return a ? int(a.i, name) : fallback;
  }

  ints(name: string, fallback: number[]): number[] {
    const a = this.#get(name, AttributeType.INTS);
    return a ? (a.ints ?? []).map((v) => int(v, name)) : fallback;
  }

  float(name: string, fallback: number): number {
    const a = this.#get(name, AttributeType.FLOAT);
    return a ? a.f ?? 0 : fallback;
  }

  floats(name: string): number[] | undefined {
    return this.#get(name, AttributeType.FLOATS)?.floats ?? undefined;
  }

  string(name: string, fallback: string): string {
    const a = this.#get(name, AttributeType.STRING);
    return a ? new TextDecoder().decode(a.s ?? new Uint8Array()) : fallback;
  }

  tensor(name: string): TensorProto | undefined {
    return this.#get(name, AttributeType.TENSOR)?.t ?? undefined;
  }

  #get(name: string, type: number): AttributeProto | undefined {
    const a = this.#byName.get(name);
    if (!a) return undefined;
    // Old exporters may leave `type` unset; trust the field then.
    if (a.type && a.type !== type) {
      throw new InputError(`attribute ${name} has type ${AttributeType[a.type]}, expected ${AttributeType[type]}`);
    }
    return a;
  }
}
