/**
 * Graph nodes of the elementwise group: unary functions of one value, and binary functions of two
 * values or of a value and a constant, broadcast numpy/ONNX style over full shapes (the batch
 * axis included).
 *
 * - `unary` {fn}: tanh, erf, exp, log, sqrt, reciprocal, neg, abs, hard_swish (x * clamp(x / 6 +
 *   1/2, 0, 1)), gelu (x * Phi(x), the exact erf form), gelu_tanh (the tanh approximation), silu
 *   (x * sigmoid(x)).
 * - `hard_sigmoid` {alpha, beta}: clamp(alpha * x + beta, 0, 1) (ONNX's defaults 0.2, 0.5).
 * - `pow` {exponent}: x to a constant power (a negative x only for an integer exponent).
 * - `binary` {fn, constant?, constantFirst?}: add, sub, mul, div, max, min. Without `constant` it
 *   reads two inputs; with it, one input and the named parameter (any shape that broadcasts against
 *   the input without growing it), as the right operand unless `constantFirst` (c - x, c / x).
 *
 * @example
 * ```ts
 * const se = BinaryNode.parse({ op: "binary", fn: "mul" }); // x * y of two inputs
 * const centred = BinaryNode.parse({ op: "binary", fn: "sub", constant: "mean" }); // x - mean
 * ```
 */
import { z } from "zod";

const Name = z.string().min(1);

/** Unary functions without constants (hard_sigmoid and pow are nodes of their own). */
export const UNARY_GRAPH_FUNCTIONS = [
  "tanh",
  "erf",
  "exp",
  "log",
  "sqrt",
  "reciprocal",
  "neg",
  "abs",
  "hard_swish",
  "gelu",
  "gelu_tanh",
  "silu",
] as const;

export const UnaryNode = z.object({ op: z.literal("unary"), fn: z.enum(UNARY_GRAPH_FUNCTIONS) });
export const HardSigmoidNode = z.object({
  op: z.literal("hard_sigmoid"),
  alpha: z.number().default(0.2),
  beta: z.number().default(0.5),
});
export const PowNode = z.object({ op: z.literal("pow"), exponent: z.number() });

export const BINARY_GRAPH_FUNCTIONS = ["add", "sub", "mul", "div", "max", "min"] as const;

export const BinaryNode = z.object({
  op: z.literal("binary"),
  fn: z.enum(BINARY_GRAPH_FUNCTIONS),
  /** A parameter operand in place of a second input. */
  constant: Name.optional(),
  /** The constant is the left operand. */
  constantFirst: z.boolean().default(false),
});

/** The group's node schemas, for the graph's op union. */
export const ELEMENTWISE_NODES = [UnaryNode, HardSigmoidNode, PowNode, BinaryNode] as const;
