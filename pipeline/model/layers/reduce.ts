/**
 * What the reduce group's ops record (graph_ops/reduce.ts): reductions, softmax, layer and
 * instance norm, matmul between activations, each forward and backward.
 */
import { recordLayerNorm, recordLayerNormBackward } from "../../../kernels/reduce_layer_norm.ts";
import { recordBatchedMatmul } from "../../../kernels/reduce_matmul.ts";
import { recordReduce, recordReduceBackward } from "../../../kernels/reduce_axes.ts";
import { recordSoftmax, recordSoftmaxBackward } from "../../../kernels/reduce_softmax.ts";
import { type Tensor, type TensorLike, TensorRows, TensorView } from "../../../kernels/tensor.ts";
import { sizeOf } from "../../io/size_of.ts";
import type { NodeOf } from "../graph.ts";
import type { Layer, LayerContext } from "../layers.ts";
import { matmulShapes } from "../shape_rules/reduce.ts";
import { kept } from "../tape_needs.ts";

const noGradient = () => ({ inputs: [null], params: new Map<string, Tensor>() });

/** The same buffer under another shape of the same size. */
export function viewAs(t: TensorLike, shape: readonly number[]): TensorLike {
  if (t instanceof TensorView) return new TensorView(t.base, shape);
  // Row windows exist only inside the blocked dense kernels; no layer receives one.
  if (t instanceof TensorRows) throw new Error(`a window of rows of [${t.base.shape}] cannot be viewed as [${shape}]`);
  return t.reshape(shape);
}

const reduce: Layer<NodeOf<"reduce">> = {
  forward(ctx, node, [x], [xShape], outShape) {
    const y = ctx.alloc(outShape);
    const argmax = node.kind === "max" ? ctx.alloc(outShape, "u32") : undefined;
    recordReduce(ctx.step, ctx.kernels.reduce.axes, {
      x: viewAs(x, xShape),
      y,
      axes: node.axes,
      kind: node.kind,
      argmax,
    });
    return { output: y, saved: argmax ? [argmax] : undefined };
  },
  backward(ctx, node, { inputShapes: [xShape], saved, dy, wantInput }) {
    if (!wantInput[0]) return noGradient();
    const dx = ctx.alloc(xShape);
    recordReduceBackward(ctx.step, ctx.kernels.reduce.axes, {
      dy,
      dx,
      axes: node.axes,
      kind: node.kind,
      argmax: saved[0],
    });
    return { inputs: [dx], params: new Map() };
  },
};

const softmax: Layer<NodeOf<"softmax">> = {
  forward(ctx, node, [x], [xShape], outShape) {
    const y = ctx.alloc(outShape);
    recordSoftmax(ctx.step, ctx.kernels.reduce.softmax, { x: viewAs(x, xShape), y, axis: node.axis, log: node.log });
    return { output: y };
  },
  backward(ctx, node, { inputShapes: [xShape], output, dy, wantInput }) {
    if (!wantInput[0]) return noGradient();
    const dx = ctx.alloc(xShape);
    recordSoftmaxBackward(ctx.step, ctx.kernels.reduce.softmax, {
      y: viewAs(kept(output, node, "output"), xShape),
      dy,
      dx,
      axis: node.axis,
      log: node.log,
    });
    return { inputs: [dx], params: new Map() };
  },
};

/** Layer norm and instance norm share kernels; they differ in the row length and where the affine varies. */
function normLayer<N extends NodeOf<"layer_norm"> | NodeOf<"instance_norm">>(
  geometry: (node: N, x: number[]) => { D: number; channels?: number },
): Layer<N> {
  return {
    forward(ctx, node, [x], [xShape], outShape) {
      const g = geometry(node, xShape);
      const y = ctx.alloc(outShape);
      const stats = ctx.alloc([sizeOf(xShape) / g.D, 2]);
      recordLayerNorm(ctx.step, ctx.kernels.reduce.layerNorm, {
        ...g,
        x,
        y,
        stats,
        scale: ctx.param(node.scale),
        bias: node.bias ? ctx.param(node.bias) : undefined,
        epsilon: node.epsilon,
      });
      return { output: y, saved: [stats] };
    },
    backward(ctx, node, { inputs: [x], inputShapes: [xShape], saved: [stats], dy, wantInput, wantParams }) {
      const scale = ctx.param(node.scale);
      const dx = wantInput[0] ? ctx.alloc(xShape) : undefined;
      const dscale = wantParams ? ctx.alloc(scale.shape) : undefined;
      const dbias = wantParams ? ctx.alloc(scale.shape) : undefined;
      recordLayerNormBackward(ctx.step, ctx.kernels.reduce.layerNorm, {
        ...geometry(node, xShape),
        x: kept(x, node, "input"),
        dy,
        stats,
        scale,
        dx,
        dscale,
        dbias,
      });
      const params = new Map<string, Tensor>();
      if (dscale && dbias) {
        params.set(node.scale, dscale);
        if (node.bias) params.set(node.bias, dbias);
        else dbias.dispose();
      }
      return { inputs: [dx ?? null], params };
    },
  };
}

/**
 * The gradient of one matmul operand: the product of the output gradient with the other operand
 * at the output's full batch shape, then summed over the batch dims this operand broadcast along.
 */
function operandGradient(
  ctx: LayerContext,
  product: { a: TensorLike; b: TensorLike; transA: boolean; transB: boolean },
  full: number[],
  own: number[],
  /** The operand's own shape (a rank-1 operand's gradient is its [1, K] or [K, 1] one, unchanged in memory). */
  shape: number[],
): Tensor {
  const reduced = full.slice(0, -2).flatMap((d, i) => {
    const ownDim = own[own.length - full.length + i] ?? 1;
    return d !== 1 && ownDim === 1 ? [i] : [];
  });
  const out = ctx.alloc(reduced.length === 0 ? shape : full);
  recordBatchedMatmul(ctx.step, ctx.kernels.reduce.matmul, { ...product, c: out });
  if (reduced.length === 0) return out;
  const summed = ctx.alloc(shape);
  recordReduce(ctx.step, ctx.kernels.reduce.axes, { x: out, y: summed, axes: reduced, kind: "sum" });
  out.dispose();
  return summed;
}

const matmul: Layer<NodeOf<"matmul">> = {
  forward(ctx, node, [a, b], [aShape, bShape], outShape) {
    const shapes = matmulShapes(node, aShape, bShape);
    const y = ctx.alloc(outShape);
    recordBatchedMatmul(ctx.step, ctx.kernels.reduce.matmul, {
      a: viewAs(a, shapes.a),
      b: viewAs(b, shapes.b),
      c: y,
      transA: node.transA,
      transB: node.transB,
    });
    return { output: y };
  },
  backward(ctx, node, { inputs, inputShapes: [aShape, bShape], dy, wantInput }) {
    const shapes = matmulShapes(node, aShape, bShape);
    const a = viewAs(kept(inputs[0], node, "first operand"), shapes.a);
    const b = viewAs(kept(inputs[1], node, "second operand"), shapes.b);
    const m = node.transA ? shapes.a.at(-1)! : shapes.a.at(-2)!;
    const n = node.transB ? shapes.b.at(-2)! : shapes.b.at(-1)!;
    const batch = shapes.out.slice(
      0,
      shapes.out.length - (aShape.length === 1 ? 0 : 1) - (bShape.length === 1 ? 0 : 1),
    );
    const g = viewAs(dy, [...batch, m, n]);
    const { transA, transB } = node;
    // d op(A) = dY op(B)^T and d op(B) = op(A)^T dY, written for A and B as stored.
    const da = wantInput[0]
      ? operandGradient(
        ctx,
        transA ? { a: b, b: g, transA: transB, transB: true } : { a: g, b, transA: false, transB: !transB },
        [...batch, ...shapes.a.slice(-2)],
        shapes.a,
        aShape,
      )
      : null;
    const db = wantInput[1]
      ? operandGradient(
        ctx,
        transB ? { a: g, b: a, transA: true, transB: transA } : { a, b: g, transA: !transA, transB: false },
        [...batch, ...shapes.b.slice(-2)],
        shapes.b,
        bShape,
      )
      : null;
    return { inputs: [da, db], params: new Map() };
  },
};

/**
 * A dense layer on the last axis of a rank > 2 value ([B, L, C]: a token MLP): the rank-2 layer
 * runs on [rows, K] views of x and dy, and its output and input-gradient allocations (asked for at
 * the flat shapes handed to it, recognised by identity) get the true shapes, so the next layer
 * sees [B, L, N]. A rank-2 input goes straight through.
 */
export function onLastAxis(dense: Layer<NodeOf<"dense">>): Layer<NodeOf<"dense">> {
  const flat = (shape: number[]) => [sizeOf(shape) / shape[shape.length - 1], shape[shape.length - 1]];
  const allocating = (ctx: LayerContext, asked: number[], shape: number[]): LayerContext => ({
    ...ctx,
    alloc: (s, dtype) => ctx.alloc(s === asked ? shape : s, dtype),
  });
  return {
    forward(ctx, node, [x], [xShape], outShape) {
      if (xShape.length === 2) return dense.forward(ctx, node, [x], [xShape], outShape);
      const [xFlat, outFlat] = [flat(xShape), flat(outShape)];
      return dense.forward(allocating(ctx, outFlat, outShape), node, [viewAs(x, xFlat)], [xFlat], outFlat);
    },
    backward(ctx, node, args) {
      const xShape = args.inputShapes[0];
      if (xShape.length === 2) return dense.backward(ctx, node, args);
      const xFlat = flat(xShape);
      const outFlat = flat([...args.dy.shape]);
      // A tape kept for the input gradient holds neither the input nor the output: nothing to view.
      const viewed = (t: TensorLike | undefined, shape: number[]) => t && viewAs(t, shape);
      return dense.backward(allocating(ctx, xFlat, xShape), node, {
        ...args,
        inputs: [viewed(args.inputs[0], xFlat)!],
        inputShapes: [xFlat],
        output: viewed(args.output, outFlat)!,
        dy: viewAs(args.dy, outFlat),
      });
    },
  };
}

/** Every op of the group's recordings, spread into layers.ts's table. */
export const REDUCE_LAYERS: {
  reduce: Layer<NodeOf<"reduce">>;
  softmax: Layer<NodeOf<"softmax">>;
  layer_norm: Layer<NodeOf<"layer_norm">>;
  instance_norm: Layer<NodeOf<"instance_norm">>;
  matmul: Layer<NodeOf<"matmul">>;
} = {
  reduce,
  softmax,
  layer_norm: normLayer<NodeOf<"layer_norm">>((node, x) => ({ D: sizeOf(x.slice(node.axis)) })),
  instance_norm: normLayer<NodeOf<"instance_norm">>((_node, x) => ({ D: sizeOf(x.slice(2)), channels: x[1] })),
  matmul,
};
