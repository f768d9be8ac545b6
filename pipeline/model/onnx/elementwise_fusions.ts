/**
 * Activations exporters write as several elementwise nodes, fused back into one graph node while
 * lowering, where no other node reads the intermediate values:
 *
 * - SiLU, `x * Sigmoid(x)` (EfficientNet, RegNetY's nn.SiLU): the sigmoid node becomes silu.
 * - GELU, `(x * (Erf(x / sqrt 2) + 1)) * 0.5` (PyTorch's nn.GELU at opsets below 20: ConvNeXt,
 *   ViT, Swin): the division node becomes gelu and the three after it are dropped.
 *
 * One node instead of four or five: one kernel each way, and four fewer full-size values kept for
 * backward.
 *
 * @example
 * ```ts
 * import type { Activation, Lowering } from "./lowering.ts";
 * declare const l: Lowering, x: Activation, sig: Activation, m: Activation;
 * const silu = fusedSilu(l, ["x", x], ["sig", sig]); // the silu activation, or undefined
 * const gelu = fusedGelu(l, "m", m, 0.5); // the gelu activation, or undefined
 * ```
 */
import type { GraphNode, NodeOf } from "../graph.ts";
import type { Activation, Lowering } from "./lowering.ts";

/** Whether exactly one ONNX value stands for an emitted node's output and exactly one node reads it. */
function soleReaderOf(l: Lowering, node: GraphNode): boolean {
  const names = [...l.values].filter(([, v]) => v.kind === "activation" && v.foldable === node).map(([k]) => k);
  return names.length === 1 && l.soleReader(names[0]);
}

/** The emitted node that produces graph value `name`. */
function producer(l: Lowering, name: string): GraphNode | undefined {
  return l.nodes.find((node) => node.name === name);
}

/** The value of a binary node's scalar constant, or NaN. */
function scalarConstant(l: Lowering, node: NodeOf<"binary">): number {
  const c = node.constant ? l.weights.get(node.constant) : undefined;
  return c && c.data.length === 1 ? c.data[0] : NaN;
}

/** Rewrites `node` in place as `spec` (its inputs and name kept), dropping its constant's weights. */
function rewrite(l: Lowering, node: GraphNode, spec: Record<string, unknown>): void {
  if (node.op === "binary" && node.constant) l.weights.delete(node.constant);
  for (const key of Object.keys(node)) {
    if (key !== "name" && key !== "inputs") delete (node as Record<string, unknown>)[key];
  }
  Object.assign(node, spec);
}

/**
 * The silu activation for `a * b` where one operand is a Sigmoid of the other and nothing else
 * reads the Sigmoid; undefined otherwise.
 */
export function fusedSilu(l: Lowering, ...operands: [name: string, value: Activation][]): Activation | undefined {
  for (const [[sName, s], [, x]] of [operands, [...operands].reverse()]) {
    const node = s.foldable;
    if (node?.op !== "sigmoid" || node.inputs[0] !== x.name || !l.soleReader(sName)) continue;
    rewrite(l, node, { op: "unary", fn: "silu" });
    return s;
  }
}

/**
 * The gelu activation for `m * factor` where factor is 0.5, m is `x * (e + 1)` (either order), e
 * is Erf(x / sqrt 2) (or x * (1 / sqrt 2)), and each of those values has this chain as its only
 * reader; undefined otherwise.
 */
export function fusedGelu(l: Lowering, mName: string, m: Activation, factor: number): Activation | undefined {
  const product = m.foldable;
  if (factor !== 0.5 || product?.op !== "binary" || product.fn !== "mul" || product.constant) return;
  if (!l.soleReader(mName)) return;
  for (const [xName, sumName] of [product.inputs, [...product.inputs].reverse()]) {
    const sum = producer(l, sumName);
    if (sum?.op !== "binary" || sum.fn !== "add" || scalarConstant(l, sum) !== 1) continue;
    const erf = producer(l, sum.inputs[0]);
    if (erf?.op !== "unary" || erf.fn !== "erf") continue;
    const scaled = producer(l, erf.inputs[0]);
    if (scaled?.op !== "binary" || scaled.inputs[0] !== xName || scaled.constantFirst) continue;
    const c = scalarConstant(l, scaled);
    const isHalfSqrt2 = (v: number) => Math.abs(v - Math.SQRT1_2) < 1e-6;
    if (!(scaled.fn === "div" ? isHalfSqrt2(1 / c) : scaled.fn === "mul" && isHalfSqrt2(c))) continue;
    if (![sum, erf, scaled].every((node) => soleReaderOf(l, node))) continue;
    rewrite(l, scaled, { op: "unary", fn: "gelu" });
    for (const node of [erf, sum, product]) {
      rewrite(l, node, {});
      l.nodes.splice(l.nodes.indexOf(node), 1);
    }
    return { ...m, name: scaled.name, foldable: scaled };
  }
}
