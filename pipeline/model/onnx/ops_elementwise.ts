/**
 * ONNX converters of the elementwise group:
 *
 * - Add, Sub, Mul, Div, Max, Min (variadic Max/Min as a chain) with numpy broadcasting, between two
 *   activations or an activation and a constant of any shape that does not grow it. A scalar or
 *   per-channel constant Mul/Add/Sub/Div folds into the Conv, Gemm or BatchNormalization that
 *   produced its input when nothing else reads it; every other one becomes a `binary` node with
 *   the constant as its parameter. An operation on two constants is done at import.
 * - Pow by a constant scalar exponent.
 * - Sqrt, Reciprocal, Neg, Abs, Exp, Log, Erf, Tanh, HardSwish, Gelu (erf or tanh form; opset 20,
 *   which the importer's opset range does not reach yet), HardSigmoid.
 *
 * @example
 * ```ts
 * import type { Lowering, OnnxNode } from "./lowering.ts";
 * declare const l: Lowering, mul: OnnxNode;
 * await ELEMENTWISE_CONVERTERS.Mul.convert(l, mul); // a binary node, a silu or gelu, or a scale folded into a conv
 * ```
 */
import { broadcastShape } from "../shape_rules/elementwise.ts";
import type { NodeOf } from "../graph.ts";
import { fusedGelu, fusedSilu } from "./elementwise_fusions.ts";
import { foldAffine, perChannel } from "./fold_affine.ts";
import { type Activation, type Lowering, type NodeSpec, type OnnxNode, Unsupported } from "./lowering.ts";
import type { Converter } from "./ops.ts";
import type { ConstantTensor } from "./tensor_data.ts";

type BinaryFunction = NodeOf<"binary">["fn"];
type UnaryFunction = NodeOf<"unary">["fn"];

/** What a binary function does to two numbers, for operations on two constants done at import. */
const HOST: Record<BinaryFunction, (a: number, b: number) => number> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  max: Math.max,
  min: Math.min,
};

/** fn(a, b) of two constants, broadcast; integer Div truncates as ONNX's does. */
function foldConstants(fn: BinaryFunction, a: ConstantTensor, b: ConstantTensor): ConstantTensor {
  const shape = broadcastShape(a.shape, b.shape);
  if (!shape) throw new Unsupported(`constants [${a.shape}] and [${b.shape}] do not broadcast`);
  const integer = a.integer && b.integer;
  const size = shape.reduce((x, y) => x * y, 1);
  const data = integer ? new Float64Array(size) : new Float32Array(size);
  const read = (t: ConstantTensor, coords: number[]) => {
    let index = 0;
    t.shape.forEach((d, k) => (index = index * d + (d === 1 ? 0 : coords[k + shape.length - t.shape.length])));
    return t.data[index];
  };
  const coords = new Array(shape.length).fill(0);
  for (let i = 0; i < size; i++) {
    let rest = i;
    for (let k = shape.length - 1; k >= 0; k--) {
      coords[k] = rest % shape[k];
      rest = Math.floor(rest / shape[k]);
    }
    const v = HOST[fn](read(a, coords), read(b, coords));
    data[i] = integer && fn === "div" ? Math.trunc(v) : v;
  }
  return { shape, data, integer };
}

/** A float constant as a parameter; a scalar is stored as [1]. */
function parameter(c: ConstantTensor, what: string) {
  if (c.integer) throw new Unsupported(`${what} holds integers, not floats`);
  return { shape: c.shape.length === 0 ? [1] : [...c.shape], data: Float32Array.from(c.data) };
}

/** How a per-channel constant folds into the producer: Sub and Div become an Add of -c and a Mul by 1 / c. */
const FOLDS: Partial<Record<BinaryFunction, { kind: "scale" | "shift"; map: (v: number) => number }>> = {
  add: { kind: "shift", map: (v) => v },
  sub: { kind: "shift", map: (v) => -v },
  mul: { kind: "scale", map: (v) => v },
  div: { kind: "scale", map: (v) => 1 / v },
};

/** Emits `fn(left, right)` for two ONNX values and returns what it became (a folded node keeps its input). */
function lowerBinary(
  l: Lowering,
  n: OnnxNode,
  fn: BinaryFunction,
  left: string,
  right: string,
): Activation | ConstantTensor {
  const [leftConstant, rightConstant] = [l.isConstant(left), l.isConstant(right)];
  if (leftConstant && rightConstant) {
    return foldConstants(fn, l.constant(left, "operand"), l.constant(right, "operand"));
  }
  if (!leftConstant && !rightConstant) {
    const [a, b] = [l.activation(left), l.activation(right)];
    if (!broadcastShape(a.onnx, b.onnx)) {
      throw new Unsupported(`[N, ${a.onnx.slice(1)}] and [N, ${b.onnx.slice(1)}] do not broadcast`);
    }
    // A residual sum of equal shapes keeps the graph's plain add (its backward is two copies).
    if (fn === "add" && a.onnx.join() === b.onnx.join()) return l.emit({ op: "add" }, n.name, [a, b]);
    const silu = fn === "mul" ? fusedSilu(l, [left, a], [right, b]) : undefined;
    if (silu) return silu;
    return l.emit({ op: "binary", fn, constantFirst: false }, n.name, [a, b]);
  }
  const [xName, cName] = leftConstant ? [right, left] : [left, right];
  const x = l.activation(xName);
  const c = l.constant(cName, "operand");
  const gelu = fn === "mul" && c.data.length === 1 ? fusedGelu(l, xName, x, c.data[0]) : undefined;
  if (gelu) return gelu;
  const fold = FOLDS[fn];
  // c - x and c / x are not affine maps of x's channels; x + c and c + x, x * c and c * x are.
  const commutes = !leftConstant || fn === "add" || fn === "mul";
  if (fold && commutes) {
    const vector = perChannel(c, x)?.map(fold.map) ?? null;
    if (foldAffine(l, xName, x, vector, fold.kind)) return x;
  }
  const out = broadcastShape(x.onnx, c.shape);
  if (!out || out.join() !== x.onnx.join()) {
    throw new Unsupported(
      `constant [${c.shape}] does not broadcast into input [N, ${x.onnx.slice(1)}] without growing it`,
    );
  }
  const spec: NodeSpec = { op: "binary", fn, constantFirst: leftConstant };
  return l.emit(spec, n.name, [x], { constant: parameter(c, `operand "${cName}"`) });
}

function record(l: Lowering, n: OnnxNode, value: Activation | ConstantTensor): void {
  l.set(n.outputs[0], "kind" in value ? value : { kind: "constant", tensor: value });
}

function binaryConverter(fn: BinaryFunction): Converter {
  return { attributes: [], convert: (l, n) => record(l, n, lowerBinary(l, n, fn, n.inputs[0], n.inputs[1])) };
}

/** Max and Min of one or more inputs: a chain of binary nodes (one input is itself). */
function variadic(fn: "max" | "min"): Converter {
  return {
    attributes: [],
    convert(l, n) {
      const [first, ...rest] = n.inputs;
      if (rest.length === 0) return l.alias(n.outputs[0], first);
      let acc = first;
      rest.forEach((name, i) => {
        const value = lowerBinary(l, { ...n, name: i === 0 ? n.name : `${n.name}.${i}` }, fn, acc, name);
        acc = i === rest.length - 1 ? n.outputs[0] : `${n.outputs[0]}.partial${i}`;
        record(l, { ...n, outputs: [acc] }, value);
      });
    },
  };
}

function unary(fn: UnaryFunction): Converter {
  return { attributes: [], convert: (l, n) => emitUnary(l, n, { op: "unary", fn }) };
}

function emitUnary(l: Lowering, n: OnnxNode, spec: NodeSpec): void {
  l.set(n.outputs[0], l.emit(spec, n.name, [l.activation(n.inputs[0])]));
}

/** The group's converters, by ONNX op. */
export const ELEMENTWISE_CONVERTERS: Record<string, Converter> = {
  Add: binaryConverter("add"),
  Sub: binaryConverter("sub"),
  Mul: binaryConverter("mul"),
  Div: binaryConverter("div"),
  Max: variadic("max"),
  Min: variadic("min"),
  Pow: {
    attributes: [],
    convert(l, n) {
      if (!l.isConstant(n.inputs[1])) throw new Unsupported(`exponent "${n.inputs[1]}" is computed, not a constant`);
      const exponent = l.constant(n.inputs[1], "exponent");
      if (exponent.data.length !== 1) throw new Unsupported(`exponent [${exponent.shape}] is not a scalar`);
      emitUnary(l, n, { op: "pow", exponent: exponent.data[0] });
    },
  },
  Sqrt: unary("sqrt"),
  Reciprocal: unary("reciprocal"),
  Neg: unary("neg"),
  Abs: unary("abs"),
  Exp: unary("exp"),
  Log: unary("log"),
  Erf: unary("erf"),
  Tanh: unary("tanh"),
  HardSwish: unary("hard_swish"),
  Gelu: {
    attributes: ["approximate"],
    check(n) {
      const form = n.attrs.string("approximate", "none");
      return form === "none" || form === "tanh" ? undefined : `approximate=${form}`;
    },
    convert(l, n) {
      const fn = n.attrs.string("approximate", "none") === "tanh" ? "gelu_tanh" : "gelu";
      emitUnary(l, n, { op: "unary", fn });
    },
  },
  HardSigmoid: {
    attributes: ["alpha", "beta"],
    convert(l, n) {
      emitUnary(l, n, { op: "hard_sigmoid", alpha: n.attrs.float("alpha", 0.2), beta: n.attrs.float("beta", 0.5) });
    },
  },
};
