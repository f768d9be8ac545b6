/**
 * Builds ONNX models for tests, node by node, with seeded random initializers: the fixtures are
 * made here, never downloaded.
 */
import { type NodeProto, onnx, type TensorProto } from "../pipeline/model/onnx/proto.ts";
import { randomArray } from "./oracle.ts";
import { sizeOf } from "../pipeline/io/size_of.ts";

/** An attribute value, tagged with its ONNX type. */
export type Attr =
  | { i: number }
  | { f: number }
  | { ints: number[] }
  | { floats: number[] }
  | { s: string }
  | { t: TensorProto };

/** A dimension: a size, or a symbolic name such as "N". */
export type Dim = number | string;

const A = onnx.AttributeProto.AttributeType;
const DT = onnx.TensorProto.DataType;

function attribute(name: string, value: Attr) {
  if ("i" in value) return { name, type: A.INT, i: value.i };
  if ("f" in value) return { name, type: A.FLOAT, f: value.f };
  if ("ints" in value) return { name, type: A.INTS, ints: value.ints };
  if ("floats" in value) return { name, type: A.FLOATS, floats: value.floats };
  if ("s" in value) return { name, type: A.STRING, s: new TextEncoder().encode(value.s) };
  return { name, type: A.TENSOR, t: value.t };
}

/** A float tensor in raw_data (or in float_data with `typed`). */
export function floatTensor(name: string, shape: number[], data: ArrayLike<number>, typed = false): TensorProto {
  const values = Float32Array.from(data);
  return typed
    ? { name, dims: shape, dataType: DT.FLOAT, floatData: Array.from(values) }
    : { name, dims: shape, dataType: DT.FLOAT, rawData: new Uint8Array(values.buffer) };
}

/** An int64 tensor (shapes, pads, axes). */
export function int64Tensor(name: string, values: number[]): TensorProto {
  return { name, dims: [values.length], dataType: DT.INT64, int64Data: values };
}

function valueInfo(name: string, dims: Dim[]) {
  return {
    name,
    type: {
      tensorType: {
        elemType: DT.FLOAT,
        shape: { dim: dims.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

export class OnnxBuilder {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  #count = 0;
  #seed: number;

  constructor(readonly opset: number, seed = 1) {
    this.#seed = seed;
  }

  /** Adds an initializer; returns its name. */
  init(tensor: TensorProto): string {
    this.initializers.push(tensor);
    return tensor.name!;
  }

  /** Adds a seeded uniform initializer in [-scale, scale) (+ offset); returns its name. */
  random(name: string, shape: number[], scale = 1, offset = 0, typed = false): string {
    const size = sizeOf(shape);
    const data = randomArray(size, ++this.#seed).map((v) => offset + scale * v);
    return this.init(floatTensor(name, shape, data, typed));
  }

  /** Adds a node; returns its output names (one unless `outputs` says more). */
  node(
    op: string,
    inputs: string[],
    attrs: Record<string, Attr> = {},
    options: { outputs?: number; name?: string } = {},
  ) {
    const id = ++this.#count;
    const name = options.name ?? `${op.toLowerCase()}_${id}`;
    const output = Array.from({ length: options.outputs ?? 1 }, (_, i) => `${name}_out${i || ""}`);
    this.nodes.push({
      name,
      opType: op,
      input: inputs,
      output,
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return output;
  }

  /** Adds a node with one output; returns it. */
  op(op: string, inputs: string[], attrs: Record<string, Attr> = {}, name?: string): string {
    return this.node(op, inputs, attrs, { name })[0];
  }

  /** Serialises the model with one input and one output. */
  build(input: { name: string; dims: Dim[] }, output: { name: string; dims: Dim[] }): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: 8,
      producerName: "onnx-builder-test",
      opsetImport: [{ domain: "", version: this.opset }],
      graph: {
        name: "test",
        node: this.nodes,
        initializer: this.initializers,
        input: [valueInfo(input.name, input.dims)],
        output: [valueInfo(output.name, output.dims)],
      },
    });
    return onnx.ModelProto.encode(model).finish();
  }
}
