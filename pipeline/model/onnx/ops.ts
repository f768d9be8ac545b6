/**
 * How each supported ONNX op lowers onto the graph's primitive ops. Most map one to one; the rest
 * vanish or fold so the graph keeps its small op set:
 *
 * - Identity and Dropout (inference) alias their input; Constant becomes an import-time value.
 * - Mul/Add/Sub/Div by a scalar or per-channel constant fold into the Conv/Gemm/BatchNormalization
 *   that produced their input when nothing else reads it (ops_elementwise.ts, fold_affine.ts).
 * - A zero Pad folds into the padding of the Conv (or AveragePool, its zeros then counted) that reads
 *   it; a Pad by nothing is dropped.
 * - Softmax (or LogSoftmax) at the output is dropped: the audit applies its own softmax to logits;
 *   elsewhere it is a softmax node (ops_reduce.ts, with the reductions, norms, MatMul of activations).
 * - Movement ops (Transpose, Reshape, Slice, Concat, Pad, ...) are in ops_movement.ts.
 * - MatMul by a constant and Gemm become a dense layer (alpha, beta and transB folded into the weights).
 *
 * A converter throws `Unsupported` for what the graph cannot express; the importer lists every such node.
 */
import { CLIP_BOUND } from "../graph.ts";
import type { HostTensor } from "../model_files.ts";
import { type Activation, type Lowering, type NodeSpec, type OnnxNode, Unsupported } from "./lowering.ts";
import type { ConstantTensor } from "./tensor_data.ts";
import { emitSoftmax, lowerMatmul, REDUCE_CONVERTERS } from "./ops_reduce.ts";
import { MOVEMENT_CONVERTERS } from "./ops_movement.ts";
import { ELEMENTWISE_CONVERTERS } from "./ops_elementwise.ts";

export interface Converter {
  /** Attributes the converter understands; a node with any other is unsupported. */
  attributes: readonly string[];
  /** Problems visible from the attributes alone, so they are listed even below another failure. */
  check?(n: OnnxNode): string | undefined;
  convert(l: Lowering, n: OnnxNode): void | Promise<void>;
}

const AUTO_PADS = ["NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"];
const WINDOW_ATTRIBUTES = ["auto_pad", "kernel_shape", "pads", "strides"] as const;

function checkAutoPad(n: OnnxNode): string | undefined {
  const autoPad = n.attrs.string("auto_pad", "NOTSET");
  return AUTO_PADS.includes(autoPad) ? undefined : `auto_pad ${autoPad}`;
}

function pair(values: number[], what: string): [number, number] {
  if (values.length !== 2) throw new Unsupported(`${what} [${values}]: only 2-D windows are supported`);
  return [values[0], values[1]];
}

function requireRank4(x: Activation, what = "input"): void {
  if (x.onnx.length !== 4) throw new Unsupported(`${what} [N, ${x.onnx.slice(1)}] is not NCHW`);
}

/** The padding fields of a window node from ONNX's [top, left, bottom, right]: `paddingEnd` only where it differs. */
interface WindowPadding {
  padding: [number, number];
  paddingEnd?: [number, number];
}

/** A window's padding from pads or auto_pad plus a pending zero Pad, as graph fields. */
function windowPadding(
  n: OnnxNode,
  x: Activation,
  kernel: [number, number],
  stride: [number, number],
  dilation: [number, number],
): WindowPadding {
  const autoPad = n.attrs.string("auto_pad", "NOTSET");
  let pads = [0, 0, 0, 0]; // top, left, bottom, right
  if (autoPad === "SAME_UPPER" || autoPad === "SAME_LOWER") {
    for (const axis of [0, 1]) {
      const size = x.onnx[2 + axis];
      const out = Math.ceil(size / stride[axis]);
      const total = Math.max(0, (out - 1) * stride[axis] + (kernel[axis] - 1) * dilation[axis] + 1 - size);
      const small = Math.floor(total / 2);
      pads[axis] = autoPad === "SAME_UPPER" ? small : total - small;
      pads[axis + 2] = total - pads[axis];
    }
  } else if (autoPad === "NOTSET") {
    pads = n.attrs.ints("pads", pads);
    if (pads.length !== 4) throw new Unsupported(`pads [${pads}]: only 2-D windows are supported`);
  }
  if (x.pad) pads = pads.map((p, i) => p + x.pad![i]);
  const padding: [number, number] = [pads[0], pads[1]];
  return pads[0] === pads[2] && pads[1] === pads[3] ? { padding } : { padding, paddingEnd: [pads[2], pads[3]] };
}

function host(t: ConstantTensor, what: string): HostTensor {
  if (t.integer) throw new Unsupported(`${what} holds integers, not floats`);
  return { shape: t.shape, data: Float32Array.from(t.data) };
}

function scalar(t: ConstantTensor | undefined, fallback: number, what: string): number {
  if (!t) return fallback;
  if (t.data.length !== 1) throw new Unsupported(`${what} [${t.shape}] is not a scalar`);
  return t.data[0];
}

/** A rank-2 [rows, cols] matrix transposed. */
function transpose(t: HostTensor): HostTensor {
  const [rows, cols] = t.shape;
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = t.data[r * cols + c];
  return { shape: [cols, rows], data: out };
}

/** Refuses a node whose extra outputs (mask, indices, training statistics) something reads. */
function onlyFirstOutput(l: Lowering, n: OnnxNode): void {
  const used = n.outputs.slice(1).filter((o) => o && (l.readers.get(o) ?? 0) > 0);
  if (used.length > 0) throw new Unsupported(`its output(s) ${used.map((o) => `"${o}"`).join(", ")} are used`);
}

/** Emits the graph node for `n` (named after it) and records it as `n`'s first output. */
function emitTo(
  l: Lowering,
  n: OnnxNode,
  spec: NodeSpec,
  inputs: Activation[],
  params: Parameters<Lowering["emit"]>[3] = {},
  onnxShape?: number[],
): void {
  l.set(n.outputs[0], l.emit(spec, n.name, inputs, params, onnxShape));
}

function pool(l: Lowering, n: OnnxNode, op: "max_pool" | "avg_pool"): void {
  const includePad = op === "avg_pool" && n.attrs.int("count_include_pad", 0) === 1;
  // A zero Pad's zeros are real values: an average counts them, so it absorbs a Pad when it
  // counts its own padding too, or has none (it then counts all of it). A max would let them win.
  const ownPads = n.attrs.ints("pads", [0, 0, 0, 0]).some((p) => p !== 0) ||
    n.attrs.string("auto_pad", "NOTSET").startsWith("SAME");
  const x = l.activation(n.inputs[0], { allowPad: op === "avg_pool" && (includePad || !ownPads) });
  requireRank4(x);
  const kernel = pair(n.attrs.ints("kernel_shape", []), "kernel_shape");
  const stride = pair(n.attrs.ints("strides", [1, 1]), "strides");
  const dilation = pair(n.attrs.ints("dilations", [1, 1]), "dilations");
  const padding = windowPadding(n, x, kernel, stride, dilation);
  onlyFirstOutput(l, n);
  const options = {
    ...padding,
    ...(dilation.some((d) => d !== 1) ? { dilation } : {}),
    ...(n.attrs.int("ceil_mode", 0) === 1 ? { ceilMode: true } : {}),
  };
  const spec: NodeSpec = op === "max_pool"
    ? { op, kernel, stride, ...options }
    : { op, kernel, stride, ...options, countIncludePad: includePad || x.pad !== undefined };
  emitTo(l, n, spec, [x]);
}

const conv: Converter = {
  attributes: [...WINDOW_ATTRIBUTES, "dilations", "group"],
  check: checkAutoPad,
  convert(l, n) {
    const x = l.activation(n.inputs[0], { allowPad: true });
    requireRank4(x);
    const w = host(l.constant(n.inputs[1], "weight"), "weight");
    if (w.shape.length !== 4) throw new Unsupported(`weight [${w.shape}]: only 2-D convolution is supported`);
    const b = l.optionalConstant(n.inputs[2], "bias");
    const kernel = pair(n.attrs.ints("kernel_shape", w.shape.slice(2)), "kernel_shape");
    if (kernel[0] !== w.shape[2] || kernel[1] !== w.shape[3]) {
      throw new Unsupported(`kernel_shape [${kernel}] disagrees with weight [${w.shape}]`);
    }
    const stride = pair(n.attrs.ints("strides", [1, 1]), "strides");
    const dilation = pair(n.attrs.ints("dilations", [1, 1]), "dilations");
    const padding = windowPadding(n, x, kernel, stride, dilation);
    const spec = { op: "conv2d", stride, ...padding, dilation, groups: n.attrs.int("group", 1) } as const;
    emitTo(l, n, spec, [x], b ? { weight: w, bias: host(b, "bias") } : { weight: w });
  },
};

const batchNorm: Converter = {
  attributes: ["epsilon", "momentum", "spatial", "training_mode", "is_test", "consumed_inputs"],
  check(n) {
    if (n.attrs.int("spatial", 1) !== 1) return "spatial=0";
    if (n.attrs.int("training_mode", 0) !== 0) return "training_mode=1";
  },
  convert(l, n) {
    const x = l.activation(n.inputs[0]);
    onlyFirstOutput(l, n);
    const [scale, shift, mean, variance] = ["scale", "B", "mean", "var"].map((what, i) =>
      host(l.constant(n.inputs[i + 1], what), what)
    );
    const epsilon = n.attrs.float("epsilon", 1e-5);
    emitTo(l, n, { op: "batch_norm", epsilon }, [x], { scale, shift, mean, variance });
  },
};

const clip: Converter = {
  attributes: ["min", "max"],
  convert(l, n) {
    const x = l.activation(n.inputs[0]);
    const [lo, hi] = l.opset < 11 ? [n.attrs.float("min", -Infinity), n.attrs.float("max", Infinity)] : [
      scalar(l.optionalConstant(n.inputs[1], "min"), -Infinity, "min"),
      scalar(l.optionalConstant(n.inputs[2], "max"), Infinity, "max"),
    ];
    // Infinite bounds do not survive JSON; CLIP_BOUND is finite and acts as unbounded on the GPU.
    const bound = (v: number) => Math.min(Math.max(v, -CLIP_BOUND), CLIP_BOUND);
    const spec: NodeSpec = lo === 0 && hi === Infinity
      ? { op: "relu" }
      : { op: "clip", min: bound(lo), max: bound(hi) };
    emitTo(l, n, spec, [x]);
  },
};

const gemm: Converter = {
  attributes: ["alpha", "beta", "transA", "transB", "broadcast"],
  check: (n) => (n.attrs.int("transA", 0) !== 0 ? "transA=1" : undefined),
  convert(l, n) {
    const a = dense2d(l, n.inputs[0]);
    const b = host(l.constant(n.inputs[1], "B"), "B");
    if (b.shape.length !== 2) throw new Unsupported(`B [${b.shape}] is not a matrix`);
    const weight = n.attrs.int("transB", 0) === 1 ? b : transpose(b);
    const alpha = n.attrs.float("alpha", 1);
    weight.data.forEach((v, i) => (weight.data[i] = alpha * v));
    const c = l.optionalConstant(n.inputs[2], "C");
    const params: { weight: HostTensor; bias?: HostTensor } = { weight };
    if (c) {
      const outFeatures = weight.shape[0];
      const rows = c.shape.length === 2 ? c.shape[0] : 1;
      if (rows !== 1 || (c.data.length !== 1 && c.data.length !== outFeatures)) {
        throw new Unsupported(`C [${c.shape}] is not a per-output bias`);
      }
      const beta = n.attrs.float("beta", 1);
      params.bias = {
        shape: [outFeatures],
        data: Float32Array.from({ length: outFeatures }, (_, i) => beta * c.data[c.data.length === 1 ? 0 : i]),
      };
    }
    emitTo(l, n, { op: "dense" }, [a], params);
  },
};

/** The [N, features] activation a dense layer reads. */
function dense2d(l: Lowering, name: string): Activation {
  if (l.isConstant(name)) {
    throw new Unsupported(`input "${name}" is a constant; only activation x constant is supported`);
  }
  const a = l.flatActivation(name);
  if (a.shape.length !== 2) throw new Unsupported(`input [N, ${a.onnx.slice(1)}] is not [N, features]`);
  return a;
}

const constant: Converter = {
  attributes: [
    "value",
    "value_float",
    "value_floats",
    "value_int",
    "value_ints",
    "sparse_value",
    "value_string",
    "value_strings",
  ],
  check(n) {
    const kind = ["sparse_value", "value_string", "value_strings"].find((a) => n.attrs.has(a));
    return kind ? `${kind} is not supported` : undefined;
  },
  async convert(l, n) {
    const a = n.attrs;
    const tensor = a.tensor("value");
    const floats = a.floats("value_floats");
    const ints = a.ints("value_ints", []);
    const value: ConstantTensor = tensor
      ? await l.readTensor(tensor, `Constant "${n.name}"`)
      : a.has("value_float")
      ? { shape: [], data: Float32Array.of(a.float("value_float", 0)), integer: false }
      : floats
      ? { shape: [floats.length], data: Float32Array.from(floats), integer: false }
      : a.has("value_int")
      ? { shape: [], data: Float64Array.of(a.int("value_int", 0)), integer: true }
      : { shape: [ints.length], data: Float64Array.from(ints), integer: true };
    l.set(n.outputs[0], { kind: "constant", tensor: value });
  },
};

const softmaxAtOutput: Converter = {
  attributes: ["axis"],
  convert(l, n) {
    const x = l.flatActivation(n.inputs[0]);
    const axis = n.attrs.int("axis", l.opset < 13 ? 1 : -1);
    const classAxis = axis === 1 || (axis === -1 && x.onnx.length === 2);
    if (!l.outputs.has(n.outputs[0]) || l.readers.get(n.outputs[0]) !== 1 || !classAxis) return emitSoftmax(l, n);
    l.alias(n.outputs[0], n.inputs[0]);
    l.notes.push(
      `${n.op} "${n.name}" at the output was dropped: the model gives logits, and the audit applies its own softmax`,
    );
  },
};

export const CONVERTERS: Record<string, Converter> = {
  Conv: conv,
  BatchNormalization: batchNorm,
  Relu: { attributes: [], convert: (l, n) => emitTo(l, n, { op: "relu" }, [l.activation(n.inputs[0])]) },
  Clip: clip,
  LeakyRelu: {
    attributes: ["alpha"],
    check: (n) => (n.attrs.float("alpha", 0.01) < 0 ? "negative alpha" : undefined),
    convert(l, n) {
      const alpha = n.attrs.float("alpha", 0.01);
      emitTo(l, n, { op: "leaky_relu", alpha }, [l.activation(n.inputs[0])]);
    },
  },
  Sigmoid: { attributes: [], convert: (l, n) => emitTo(l, n, { op: "sigmoid" }, [l.activation(n.inputs[0])]) },
  MaxPool: {
    attributes: [...WINDOW_ATTRIBUTES, "ceil_mode", "dilations", "storage_order"],
    check: checkAutoPad,
    convert: (l, n) => pool(l, n, "max_pool"),
  },
  AveragePool: {
    attributes: [...WINDOW_ATTRIBUTES, "ceil_mode", "count_include_pad"],
    check: checkAutoPad,
    convert: (l, n) => pool(l, n, "avg_pool"),
  },
  GlobalAveragePool: {
    attributes: [],
    convert(l, n) {
      const x = l.activation(n.inputs[0]);
      requireRank4(x);
      emitTo(l, n, { op: "global_avg_pool" }, [x], {}, [1, x.onnx[1], 1, 1]);
    },
  },
  Gemm: gemm,
  MatMul: {
    attributes: [],
    convert(l, n) {
      if (lowerMatmul(l, n)) return;
      const a = dense2d(l, n.inputs[0]);
      const b = host(l.constant(n.inputs[1], "B"), "B");
      if (b.shape.length !== 2) throw new Unsupported(`B [${b.shape}] is not a matrix`);
      emitTo(l, n, { op: "dense" }, [a], { weight: transpose(b) });
    },
  },
  Constant: constant,
  Dropout: {
    attributes: ["ratio", "seed", "is_test"],
    convert(l, n) {
      const training = l.optionalConstant(n.inputs[2], "training_mode");
      // Dropout of ratio 0 is the identity even in training mode (Swin's attention exports one).
      const ratio = l.opset < 12
        ? n.attrs.float("ratio", 0.5)
        : l.optionalConstant(n.inputs[1], "ratio")?.data[0] ?? 0.5;
      if (training && training.data[0] && ratio !== 0) throw new Unsupported("training_mode is true");
      onlyFirstOutput(l, n);
      l.alias(n.outputs[0], n.inputs[0]);
    },
  },
  Identity: { attributes: [], convert: (l, n) => l.alias(n.outputs[0], n.inputs[0]) },
  Softmax: softmaxAtOutput,
  LogSoftmax: softmaxAtOutput,
  ...REDUCE_CONVERTERS,
  ...MOVEMENT_CONVERTERS,
  // Elementwise group: Add, Sub, Mul, Div, Pow, Max, Min and the unary functions (ops_elementwise.ts).
  ...ELEMENTWISE_CONVERTERS,
};
