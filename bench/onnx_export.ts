/**
 * Writes a model graph (pipeline/model/graph.ts) with its weights as an ONNX model (opset 13), so that
 * ONNX Runtime can run the very network our executor runs. The manifest's normalisation becomes a
 * Sub and a Div in front, as the executor records it first. Bench-only: the project reads ONNX
 * (pipeline/model/onnx/) but has no use for writing it.
 *
 * @example
 * ```ts
 * import { resnet18 } from "./resnet18.ts";
 * const { graph, weights } = resnet18({ classes: 10, size: 32, seed: 1 });
 * const bytes = exportOnnx(graph, weights, { mean: [0, 0, 0], std: [1, 1, 1] });
 * await Deno.writeFile("resnet18.onnx", bytes); // what peers/ort.ts hands ONNX Runtime
 * ```
 */
import type { Graph, GraphNode } from "../pipeline/model/graph.ts";
import type { HostTensor } from "../pipeline/model/model_files.ts";
import type { Manifest } from "../pipeline/model/manifest.ts";
import { onnx } from "../pipeline/model/onnx/proto.ts";
type Attribute = InstanceType<typeof onnx.AttributeProto>;

const ints = (name: string, values: number[]): Attribute =>
  onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INTS, ints: values });
const int = (name: string, value: number): Attribute =>
  onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INT, i: value });
const float = (name: string, value: number): Attribute =>
  onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.FLOAT, f: value });

function tensor(name: string, shape: number[], data: ArrayLike<number>, int64 = false) {
  if (int64) {
    return onnx.TensorProto.create({
      name,
      dims: shape,
      dataType: onnx.TensorProto.DataType.INT64,
      int64Data: Array.from(data),
    });
  }
  const floats = Float32Array.from(data); // little-endian raw bytes, as ONNX stores them
  const rawData = new Uint8Array(floats.buffer);
  return onnx.TensorProto.create({ name, dims: shape, dataType: onnx.TensorProto.DataType.FLOAT, rawData });
}

/** The ONNX node(s) of one graph node; `extra` collects initializers the node needs. */
function nodeOf(node: GraphNode, extra: ReturnType<typeof tensor>[]) {
  const make = (opType: string, inputs: string[], attribute: Attribute[] = []) =>
    onnx.NodeProto.create({ name: node.name, opType, input: inputs, output: [node.name], attribute });
  const pads = (p: [number, number]) => ints("pads", [p[0], p[1], p[0], p[1]]);
  switch (node.op) {
    case "conv2d":
      return make("Conv", [...node.inputs, node.weight, ...(node.bias ? [node.bias] : [])], [
        ints("strides", node.stride),
        pads(node.padding),
        ints("dilations", node.dilation),
        int("group", node.groups),
      ]);
    case "dense":
      return make("Gemm", [...node.inputs, node.weight, ...(node.bias ? [node.bias] : [])], [int("transB", 1)]);
    case "batch_norm":
      return make("BatchNormalization", [...node.inputs, node.scale, node.shift, node.mean, node.variance], [
        float("epsilon", node.epsilon),
      ]);
    case "relu":
      return make("Relu", node.inputs);
    case "clip":
      extra.push(tensor(`${node.name}.min`, [], [node.min]), tensor(`${node.name}.max`, [], [node.max]));
      return make("Clip", [...node.inputs, `${node.name}.min`, `${node.name}.max`]);
    case "max_pool":
      return make("MaxPool", node.inputs, [
        ints("kernel_shape", node.kernel),
        ints("strides", node.stride ?? node.kernel),
        pads(node.padding),
      ]);
    case "avg_pool":
      return make("AveragePool", node.inputs, [
        ints("kernel_shape", node.kernel),
        ints("strides", node.stride ?? node.kernel),
        pads(node.padding),
        int("count_include_pad", node.countIncludePad ? 1 : 0),
      ]);
    case "global_avg_pool":
      return make("GlobalAveragePool", node.inputs);
    case "add":
      return make("Add", node.inputs);
    case "flatten":
      return make("Flatten", node.inputs, [int("axis", 1)]);
    case "reshape":
      extra.push(tensor(`${node.name}.shape`, [node.shape.length + 1], [0, ...node.shape], true));
      return make("Reshape", [...node.inputs, `${node.name}.shape`]);
    default:
      throw new Error(`onnx export: no ONNX op for ${(node as GraphNode).op}`);
  }
}

/** The ONNX model's bytes; its input is the graph's input name with a symbolic batch. */
export function exportOnnx(
  graph: Graph,
  weights: Map<string, HostTensor>,
  normalization: Manifest["normalization"],
): Uint8Array {
  const extra: ReturnType<typeof tensor>[] = [];
  const [c] = graph.input.shape;
  const raw = `${graph.input.name}.raw`;
  extra.push(
    tensor("norm.mean", [1, c, 1, 1], normalization.mean),
    tensor("norm.std", [1, c, 1, 1], normalization.std),
  );
  const nodes = [
    onnx.NodeProto.create({ name: "norm.sub", opType: "Sub", input: [raw, "norm.mean"], output: ["norm.centred"] }),
    onnx.NodeProto.create({
      name: "norm.div",
      opType: "Div",
      input: ["norm.centred", "norm.std"],
      output: [graph.input.name],
    }),
    ...graph.nodes.map((n) => nodeOf(n, extra)),
  ];
  const valueInfo = (name: string, dims: (number | string)[]) =>
    onnx.ValueInfoProto.create({
      name,
      type: {
        tensorType: {
          elemType: onnx.TensorProto.DataType.FLOAT,
          shape: { dim: dims.map((d) => (typeof d === "string" ? { dimParam: d } : { dimValue: d })) },
        },
      },
    });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: "bench/onnx_export.ts",
    opsetImport: [{ domain: "", version: 13 }],
    graph: {
      name: "model",
      node: nodes,
      initializer: [...[...weights].map(([name, t]) => tensor(name, t.shape, t.data)), ...extra],
      input: [valueInfo(raw, ["batch", ...graph.input.shape])],
      output: [valueInfo(graph.output, ["batch", "classes"])],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}
