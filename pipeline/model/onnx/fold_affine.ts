/**
 * Folding a constant scale or shift into the node that produced an activation: a Mul or Add (or a
 * Sub or Div, as an Add of -c or a Mul by 1 / c) by a scalar or per-channel constant rescales the
 * output channels of the Conv, Gemm or BatchNormalization before it, so no node is emitted.
 *
 * @example
 * ```ts
 * import type { Activation, Lowering } from "./lowering.ts";
 * import type { ConstantTensor } from "./tensor_data.ts";
 * declare const l: Lowering, x: Activation, c: ConstantTensor;
 * const folded = foldAffine(l, "conv_out", x, perChannel(c, x), "scale"); // true: x's conv now scales
 * ```
 */
import type { GraphNode } from "../graph.ts";
import type { HostTensor } from "../model_files.ts";
import type { Activation, Lowering, ParamRole } from "./lowering.ts";
import type { ConstantTensor } from "./tensor_data.ts";

/**
 * The per-channel vector a constant broadcasts to over `x` (axis 1), or null when it varies along
 * another axis. A scalar repeats over every channel.
 */
export function perChannel(c: ConstantTensor, x: Activation): Float32Array | null {
  const rank = x.onnx.length;
  if (c.shape.length > rank || rank < 2) return null;
  const shape = [...new Array(rank - c.shape.length).fill(1), ...c.shape];
  const channels = x.onnx[1];
  if (shape.some((d, i) => d !== 1 && !(i === 1 && d === channels))) return null;
  return Float32Array.from({ length: channels }, (_, i) => c.data[shape[1] === 1 ? 0 : i]);
}

/** Scales or shifts the output channels of an emitted conv2d, dense or batch_norm node in place. */
function foldInto(l: Lowering, node: GraphNode, vector: Float32Array, kind: "scale" | "shift"): boolean {
  const scaleRows = (t: HostTensor | undefined) => {
    if (!t) return;
    const per = t.data.length / t.shape[0];
    t.data.forEach((_, i) => (t.data[i] *= vector[Math.floor(i / per)]));
  };
  const shift = (role: ParamRole) => {
    const existing = l.param(node, role);
    if (existing) existing.data.forEach((_, i) => (existing.data[i] += vector[i]));
    else l.addParam(node, role, { shape: [vector.length], data: Float32Array.from(vector) });
  };
  switch (node.op) {
    case "conv2d":
    case "dense":
      if (kind === "scale") [l.param(node, "weight"), l.param(node, "bias")].forEach(scaleRows);
      else shift("bias");
      return true;
    case "batch_norm":
      if (kind === "scale") [l.param(node, "scale"), l.param(node, "shift")].forEach(scaleRows);
      else shift("shift");
      return true;
    default:
      return false;
  }
}

/**
 * Folds `x * vector` or `x + vector` (per channel) into x's producer when x is its direct output
 * and `xName` has no other reader; returns whether it did (the caller then maps the node's output
 * to x).
 */
export function foldAffine(
  l: Lowering,
  xName: string,
  x: Activation,
  vector: Float32Array | null,
  kind: "scale" | "shift",
): boolean {
  return vector !== null && x.foldable !== undefined && l.soleReader(xName) && foldInto(l, x.foldable, vector, kind);
}
