/**
 * ONNX lowering of the reduce group (graph_ops/reduce.ts): ReduceMean, ReduceSum, ReduceMax,
 * Softmax and LogSoftmax inside the graph, LayerNormalization, InstanceNormalization, MatMul
 * between two activations or by a constant on the last axis of a rank > 2 activation, and
 * Einsum of two operands where it is a batched matrix product.
 *
 * Axes are normalised to non-negative ones over the full shape; a reduction or normalisation
 * across the batch axis is refused (an image's result would depend on the rest of its batch).
 * Einsum accepts `P ab, P cd -> P mn` where P is the same batch letters (or `...`) on every side,
 * one letter is contracted between the last two of each operand, and the output ends with A's
 * free letter then B's: "bhid,bhjd->bhij", "bhij,bhjd->bhid", "...ij,...jk->...ik".
 */
import type { HostTensor } from "../model_files.ts";
import { type Activation, type Lowering, type NodeSpec, type OnnxNode, Unsupported } from "./lowering.ts";
import type { Converter } from "./ops.ts";
import type { ConstantTensor } from "./tensor_data.ts";

function emitTo(l: Lowering, n: OnnxNode, spec: NodeSpec, inputs: Activation[], params = {}): void {
  l.set(n.outputs[0], l.emit(spec, n.name, inputs, params));
}

function floats(t: ConstantTensor, what: string): HostTensor {
  if (t.integer) throw new Unsupported(`${what} holds integers, not floats`);
  return { shape: t.shape, data: Float32Array.from(t.data) };
}

/** An ONNX axis (negative counts from the end) over a rank; refuses one outside it. */
function normalizeAxis(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new Unsupported(`axis ${axis} is outside rank ${rank}`);
  return a;
}

function refuseBatchAxis(axes: number[]): void {
  if (axes.includes(0)) throw new Unsupported("it reduces across the batch axis");
}

/** The axes of a Reduce* node: an attribute before the opset that made them an input (13 for ReduceSum, 18 for the rest). */
function reduceAxes(l: Lowering, n: OnnxNode, rank: number): number[] {
  const inputFrom = n.op === "ReduceSum" ? 13 : 18;
  let axes: number[];
  if (l.opset < inputFrom) axes = n.attrs.ints("axes", []);
  else {
    const given = n.inputs[1] ? l.constant(n.inputs[1], "axes") : undefined;
    axes = given ? Array.from(given.data) : [];
  }
  if (axes.length === 0) {
    if (n.attrs.int("noop_with_empty_axes", 0) === 1) throw new Unsupported("noop_with_empty_axes with no axes");
    axes = Array.from({ length: rank }, (_, i) => i);
  }
  const normalized = [...new Set(axes.map((a) => normalizeAxis(a, rank)))].sort((a, b) => a - b);
  refuseBatchAxis(normalized);
  return normalized;
}

function reduceConverter(kind: "sum" | "mean" | "max"): Converter {
  return {
    attributes: ["axes", "keepdims", "noop_with_empty_axes"],
    convert(l, n) {
      const x = l.activation(n.inputs[0]);
      const axes = reduceAxes(l, n, x.onnx.length);
      emitTo(l, n, { op: "reduce", kind, axes, keepdims: n.attrs.int("keepdims", 1) === 1 }, [x]);
    },
  };
}

/**
 * Emits a Softmax or LogSoftmax inside the graph (the drop at the output is ops.ts's). Before
 * opset 13 the op flattened the axes from `axis` on into one; that equals a softmax along `axis`
 * only when the axes after it are all 1.
 */
export function emitSoftmax(l: Lowering, n: OnnxNode): void {
  const x = l.activation(n.inputs[0]);
  const rank = x.onnx.length;
  const axis = normalizeAxis(n.attrs.int("axis", l.opset < 13 ? 1 : -1), rank);
  refuseBatchAxis([axis]);
  if (l.opset < 13 && x.onnx.slice(axis + 1).some((d) => d !== 1)) {
    throw new Unsupported(`opset ${l.opset} softmax over the flattened axes ${axis}.. of [N, ${x.onnx.slice(1)}]`);
  }
  emitTo(l, n, { op: "softmax", axis, log: n.op === "LogSoftmax" }, [x]);
}

/** Refuses a node whose extra outputs (a layer norm's mean and 1/std) something reads. */
function onlyFirstOutput(l: Lowering, n: OnnxNode): void {
  const used = n.outputs.slice(1).filter((o) => o && (l.readers.get(o) ?? 0) > 0);
  if (used.length > 0) throw new Unsupported(`its output(s) ${used.map((o) => `"${o}"`).join(", ")} are used`);
}

const layerNorm: Converter = {
  attributes: ["axis", "epsilon", "stash_type"],
  convert(l, n) {
    const x = l.activation(n.inputs[0]);
    onlyFirstOutput(l, n);
    const axis = normalizeAxis(n.attrs.int("axis", -1), x.onnx.length);
    refuseBatchAxis([axis]);
    const normalized = x.onnx.slice(axis);
    const scale = floats(l.constant(n.inputs[1], "scale"), "scale");
    const bias = n.inputs[2] ? floats(l.constant(n.inputs[2], "bias"), "bias") : undefined;
    const count = normalized.reduce((a, b) => a * b, 1);
    // A scale that broadcasts (a scalar) is written out per position: the kernel reads one per value.
    const full = (t: HostTensor) =>
      t.data.length === count
        ? { shape: normalized, data: t.data }
        : t.data.length === 1
        ? { shape: normalized, data: new Float32Array(count).fill(t.data[0]) }
        : t;
    const params = bias ? { scale: full(scale), bias: full(bias) } : { scale: full(scale) };
    emitTo(l, n, { op: "layer_norm", axis, epsilon: n.attrs.float("epsilon", 1e-5) }, [x], params);
  },
};

const instanceNorm: Converter = {
  attributes: ["epsilon"],
  convert(l, n) {
    const x = l.activation(n.inputs[0]);
    const scale = floats(l.constant(n.inputs[1], "scale"), "scale");
    const bias = floats(l.constant(n.inputs[2], "B"), "B");
    emitTo(l, n, { op: "instance_norm", epsilon: n.attrs.float("epsilon", 1e-5) }, [x], { scale, bias });
  },
};

/** A rank-2 [rows, cols] matrix transposed. */
function transposed(t: HostTensor): HostTensor {
  const [rows, cols] = t.shape;
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = t.data[r * cols + c];
  return { shape: [cols, rows], data: out };
}

/**
 * MatMul beyond ops.ts's rank-2 activation x constant matrix: between two activations (a matmul
 * node), or a rank > 2 activation by a constant matrix (a dense node on the last axis). Returns
 * false for the cases ops.ts lowers itself.
 */
export function lowerMatmul(l: Lowering, n: OnnxNode): boolean {
  const [aName, bName] = n.inputs;
  if (l.isConstant(aName)) return false;
  if (!l.isConstant(bName)) {
    emitTo(l, n, { op: "matmul", transA: false, transB: false }, [l.activation(aName), l.activation(bName)]);
    return true;
  }
  const a = l.activation(aName);
  if (a.onnx.length <= 2) return false;
  const b = floats(l.constant(bName, "B"), "B");
  if (b.shape.length !== 2) throw new Unsupported(`B [${b.shape}] is not a matrix`);
  emitTo(l, n, { op: "dense" }, [a], { weight: transposed(b) });
  return true;
}

/** The letters of one Einsum term, with "..." as one token. */
function terms(side: string): string[] {
  return [...side.replaceAll("...", "*")];
}

const einsum: Converter = {
  attributes: ["equation"],
  check(n) {
    try {
      parseEinsum(n.attrs.string("equation", ""));
    } catch (e) {
      if (e instanceof Unsupported) return e.message;
      throw e;
    }
  },
  convert(l, n) {
    if (n.inputs.length !== 2 || n.inputs.some((name) => l.isConstant(name))) {
      throw new Unsupported("only a product of two computed operands is supported");
    }
    const { transA, transB } = parseEinsum(n.attrs.string("equation", ""));
    const [a, b] = n.inputs.map((name) => l.activation(name));
    if (a.onnx.length !== b.onnx.length) throw new Unsupported("its operands differ in rank");
    emitTo(l, n, { op: "matmul", transA, transB }, [a, b]);
  },
};

/** Which operands an accepted Einsum equation transposes; Unsupported for any other equation. */
export function parseEinsum(equation: string): { transA: boolean; transB: boolean } {
  const refuse = () => new Unsupported(`equation "${equation}" is not a batched matrix product`);
  const [inputs, output] = equation.replaceAll(" ", "").split("->");
  if (output === undefined) throw refuse();
  const sides = inputs.split(",");
  if (sides.length !== 2) throw refuse();
  const [a, b, out] = [...sides, output].map(terms);
  if (a.length < 2 || a.length !== b.length || a.length !== out.length) throw refuse();
  const batch = a.slice(0, -2);
  if (b.slice(0, -2).join() !== batch.join() || out.slice(0, -2).join() !== batch.join()) throw refuse();
  const [a2, b2, [m, nOut]] = [a.slice(-2), b.slice(-2), out.slice(-2)];
  const contracted = a2.find((c) => b2.includes(c) && c !== m && c !== nOut);
  if (!contracted || new Set([...batch, ...a2, ...b2]).size !== batch.length + 3) throw refuse();
  const aFree = a2.find((c) => c !== contracted)!;
  const bFree = b2.find((c) => c !== contracted)!;
  if (aFree !== m || bFree !== nOut) throw refuse();
  return { transA: a2[0] === contracted, transB: b2[1] === contracted };
}

/** The group's converters, spread into ops.ts's table. */
export const REDUCE_CONVERTERS: Record<string, Converter> = {
  ReduceMean: reduceConverter("mean"),
  ReduceSum: reduceConverter("sum"),
  ReduceMax: reduceConverter("max"),
  LayerNormalization: layerNorm,
  InstanceNormalization: instanceNorm,
  Einsum: einsum,
};
