/**
 * Layers of the elementwise group (graph_ops/elementwise.ts): unary functions record one kernel
 * each way; a binary node records its forward and, backward, each wanted operand's gradient summed
 * over the axes that operand broadcasts along. A constant operand is a parameter: it gets a
 * gradient when parameter gradients are asked for (a trainable layer scale), never an input one.
 *
 * @example
 * ```ts
 * import type { LayerContext } from "../layers.ts";
 * import type { Graph, NodeOf } from "../graph.ts";
 * import type { Tensor } from "../../../kernels/tensor.ts";
 * declare const ctx: LayerContext, x: Tensor;
 * const node = { name: "act", op: "unary", fn: "silu", inputs: ["x"] } as NodeOf<"unary">;
 * const { output } = ELEMENTWISE_LAYERS.unary.forward(ctx, node, [x], [[...x.shape]], [...x.shape]);
 * ```
 */
import { type BinaryFunction, recordBinary, recordBinaryBackward } from "../../../kernels/elementwise_binary.ts";
import type { ElementwiseSelection } from "../../../kernels/mod.ts";
import {
  recordUnary,
  recordUnaryBackward,
  type UnaryConstants,
  type UnaryFunction,
} from "../../../kernels/elementwise_unary.ts";
import { Tensor, type TensorLike } from "../../../kernels/tensor.ts";
import { sizeOf } from "../../io/size_of.ts";
import type { Graph, NodeOf } from "../graph.ts";
import type { Layer, LayerContext } from "../layers.ts";
import { kept } from "../tape_needs.ts";

type UnaryOp = NodeOf<"unary"> | NodeOf<"hard_sigmoid"> | NodeOf<"pow">;

/** A unary layer; `fn` reads the kernel function and its constants off the node. */
function unaryLayer<N extends UnaryOp>(fn: (node: N) => UnaryConstants & { fn: UnaryFunction }): Layer<N> {
  return {
    forward(ctx, node, [x], _shapes, outShape) {
      const y = ctx.alloc(outShape);
      recordUnary(ctx.step, ctx.kernels.unary, { ...fn(node), x, y });
      return { output: y };
    },
    backward(ctx, node, { inputs: [x], inputShapes: [xShape], dy, wantInput }) {
      if (!wantInput[0]) return { inputs: [null], params: new Map() };
      const dx = ctx.alloc(xShape);
      recordUnaryBackward(ctx.step, ctx.kernels.unary, { ...fn(node), x: kept(x, node, "input"), dy, dx });
      return { inputs: [dx], params: new Map() };
    },
  };
}

/** The left and right operands of a binary node: its inputs, or its input and its constant. */
function operands(ctx: LayerContext, node: NodeOf<"binary">, inputs: TensorLike[]): [TensorLike, TensorLike] {
  if (!node.constant) return [inputs[0], inputs[1]];
  const c = ctx.param(node.constant);
  return node.constantFirst ? [c, inputs[0]] : [inputs[0], c];
}

const binary: Layer<NodeOf<"binary">> = {
  forward(ctx, node, inputs, _shapes, outShape) {
    const [a, b] = operands(ctx, node, inputs);
    const out = ctx.alloc(outShape);
    recordBinary(ctx.step, ctx.kernels.binary, { fn: node.fn, a, b, out });
    return { output: out };
  },
  backward(ctx, node, { inputs, inputShapes, dy, wantInput, wantParams }) {
    // An input the tape did not keep (tape_needs.ts: its value is not in this gradient) is bound as a
    // stand-in of its shape: the output gradient's buffer when the sizes agree, else a scratch buffer.
    const scratch: Tensor[] = [];
    const present = inputs.map((x, i) => {
      if (x) return x;
      if (dy instanceof Tensor && dy.size === sizeOf(inputShapes[i])) return dy.reshape(inputShapes[i]);
      const standIn = ctx.alloc(inputShapes[i]);
      scratch.push(standIn);
      return standIn;
    });
    const [a, b] = operands(ctx, node, present);
    const gradient = (side: "a" | "b"): Tensor => {
      const grad = ctx.alloc((side === "a" ? a : b).shape);
      recordBinaryBackward(ctx.step, ctx.kernels.binary, { fn: node.fn, side, a, b, dy, grad });
      return grad;
    };
    const params = new Map<string, Tensor>();
    let grads: (Tensor | null)[];
    if (!node.constant) grads = wantInput.map((want, i) => (want ? gradient(i === 0 ? "a" : "b") : null));
    else {
      const [inputSide, constantSide] = node.constantFirst ? ["b", "a"] as const : ["a", "b"] as const;
      if (wantParams) params.set(node.constant, gradient(constantSide));
      grads = [wantInput[0] ? gradient(inputSide) : null];
    }
    scratch.forEach((t) => t.dispose());
    return { inputs: grads, params };
  },
};

/** The elementwise functions a graph's nodes record, so the executor compiles only their kernels. */
export function elementwiseSelection(graph: Graph): ElementwiseSelection {
  const unary = new Set<UnaryFunction>();
  const binary = new Set<BinaryFunction>();
  for (const node of graph.nodes) {
    if (node.op === "unary") unary.add(node.fn);
    else if (node.op === "hard_sigmoid" || node.op === "pow") unary.add(node.op);
    else if (node.op === "binary") binary.add(node.fn);
  }
  return { unary: [...unary], binary: [...binary] };
}

/** The group's layers, by op. */
export const ELEMENTWISE_LAYERS = {
  unary: unaryLayer<NodeOf<"unary">>((node) => ({ fn: node.fn })),
  hard_sigmoid: unaryLayer<NodeOf<"hard_sigmoid">>((node) => ({
    fn: "hard_sigmoid",
    alpha: node.alpha,
    beta: node.beta,
  })),
  pow: unaryLayer<NodeOf<"pow">>((node) => ({ fn: "pow", alpha: node.exponent })),
  binary,
};
