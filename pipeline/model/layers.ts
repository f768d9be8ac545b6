/**
 * What each graph op records on the GPU: its forward and its backward.
 *
 * The executor walks the graph and calls these at the shapes `shapes.ts` inferred and checked;
 * they only record kernels into the step (no readback). Each maps the node's attributes onto its
 * kernels' arguments (a convolution's geometry, a pooling window).
 */
import {
  type Conv2dGeometry,
  recordConv2dBackwardInput,
  recordConv2dBackwardWeight,
  recordConv2dForward,
} from "../../kernels/conv2d.ts";
import { recordChannelSum } from "../../kernels/channel_sum.ts";
import {
  type ClipRange,
  recordAdd,
  recordClip,
  recordClipBackward,
  recordLeakyRelu,
  recordLeakyReluBackward,
  recordSigmoid,
  recordSigmoidBackward,
  RELU_RANGE,
} from "../../kernels/elementwise.ts";
import type { Step } from "../../kernels/gpu.ts";
import { recordDense, recordDenseBackwardInput, recordDenseBackwardWeight } from "../../kernels/dense_blocks.ts";
import type { EngineKernels } from "../../kernels/mod.ts";
import { recordBatchNorm, recordBatchNormBackward, recordBatchNormParamGrads } from "../../kernels/batch_norm.ts";
import { recordBatchNormTrainBackward, recordBatchStats } from "../../kernels/batch_norm_train.ts";
import {
  type PoolWindow,
  recordAvgPool,
  recordAvgPoolBackward,
  recordGlobalAvgPool,
  recordGlobalAvgPoolBackward,
  recordMaxPool,
  recordMaxPoolBackward,
} from "../../kernels/pool.ts";
import type { Tensor, TensorLike } from "../../kernels/tensor.ts";
import type { GraphNode, NodeOf, Op } from "./graph.ts";
import { kept } from "./tape_needs.ts";
import { onLastAxis, REDUCE_LAYERS } from "./layers/reduce.ts";
import { MOVEMENT_LAYERS } from "./layers/movement.ts";
import { ELEMENTWISE_LAYERS } from "./layers/elementwise.ts";

/** What a layer sees while recording: the kernels, the step, allocation and parameters. */
export interface LayerContext {
  step: Step;
  kernels: EngineKernels;
  alloc(shape: readonly number[], dtype?: "f32" | "u32"): Tensor;
  param(name: string): Tensor;
  /** Training mode: batch norm normalises with batch statistics and updates its running ones. */
  training: boolean;
}

/** Forward result: the output, plus what backward needs that is not an input (argmax, batch statistics). */
export interface ForwardOutput {
  output: Tensor;
  saved?: Tensor[];
}

/**
 * Backward request for one node. A tape trimmed to what backwards read (tape_needs.ts) holds a
 * node's inputs and output only where its op's backward reads them, so either may be undefined:
 * a layer takes them through `kept`, which names what is missing.
 */
export interface BackwardArgs {
  inputs: (TensorLike | undefined)[];
  inputShapes: number[][];
  output: TensorLike | undefined;
  saved: TensorLike[];
  dy: TensorLike;
  /** Which inputs need a gradient (false for the graph input when no input gradient is wanted). */
  wantInput: boolean[];
  /** Whether parameter gradients are wanted. */
  wantParams: boolean;
}

/** Gradients of one node: per input (null where not wanted) and per parameter name. */
export interface BackwardOutput {
  inputs: (Tensor | null)[];
  params: Map<string, Tensor>;
}

/** One op's recordings; `outShape` and `inputShapes` are the ones `shapes.ts` inferred. */
export interface Layer<N extends GraphNode = GraphNode> {
  forward(ctx: LayerContext, node: N, inputs: TensorLike[], inputShapes: number[][], outShape: number[]): ForwardOutput;
  backward(ctx: LayerContext, node: N, args: BackwardArgs): BackwardOutput;
}

/** A conv2d node's geometry at input shape `x` and weight shape `w`. */
export function convGeometry(node: NodeOf<"conv2d">, x: number[], w: number[]): Conv2dGeometry {
  return {
    batch: x[0],
    inChannels: x[1],
    inHeight: x[2],
    inWidth: x[3],
    outChannels: w[0],
    kernelHeight: w[2],
    kernelWidth: w[3],
    strideH: node.stride[0],
    strideW: node.stride[1],
    padH: node.padding[0],
    padW: node.padding[1],
    padBottom: node.paddingEnd?.[0],
    padRight: node.paddingEnd?.[1],
    dilationH: node.dilation[0],
    dilationW: node.dilation[1],
    groups: node.groups,
  };
}

const conv2d: Layer<NodeOf<"conv2d">> = {
  forward(ctx, node, [x], [xShape], outShape) {
    const weight = ctx.param(node.weight);
    const y = ctx.alloc(outShape);
    const geom = convGeometry(node, xShape, [...weight.shape]);
    recordConv2dForward(ctx.step, ctx.kernels.conv2d, {
      x,
      weight,
      bias: node.bias ? ctx.param(node.bias) : undefined,
      y,
      geom,
    });
    return { output: y };
  },
  backward(ctx, node, { inputs: [x], inputShapes: [xShape], dy, wantInput, wantParams }) {
    const weight = ctx.param(node.weight);
    const geom = convGeometry(node, xShape, [...weight.shape]);
    const params = new Map<string, Tensor>();
    let dx: Tensor | null = null;
    if (wantInput[0]) {
      dx = ctx.alloc(xShape);
      recordConv2dBackwardInput(ctx.step, ctx.kernels.conv2d, { dy, weight, dx, geom });
    }
    if (wantParams) {
      const dweight = ctx.alloc(weight.shape);
      recordConv2dBackwardWeight(ctx.step, ctx.kernels.conv2d, { dy, x: kept(x, node, "input"), dweight, geom });
      params.set(node.weight, dweight);
      if (node.bias) params.set(node.bias, biasGradient(ctx, dy));
    }
    return { inputs: [dx], params };
  },
};

function biasGradient(ctx: LayerContext, dy: TensorLike): Tensor {
  const out = ctx.alloc([dy.shape[1]]);
  recordChannelSum(ctx.step, ctx.kernels.channelSum, { a: dy, out });
  return out;
}

// Weights larger than one binding run in blocks of output rows (kernels/dense_blocks.ts).
const dense: Layer<NodeOf<"dense">> = {
  forward(ctx, node, [x], _shapes, outShape) {
    const weight = ctx.param(node.weight);
    const y = ctx.alloc(outShape);
    const bias = node.bias ? ctx.param(node.bias) : undefined;
    recordDense(ctx.step, ctx.kernels, { x, weight, bias, y });
    return { output: y };
  },
  backward(ctx, node, { inputs: [x], inputShapes: [xShape], dy, wantInput, wantParams }) {
    const weight = ctx.param(node.weight);
    const params = new Map<string, Tensor>();
    let dx: Tensor | null = null;
    if (wantInput[0]) {
      dx = ctx.alloc(xShape);
      recordDenseBackwardInput(ctx.step, ctx.kernels, { dy, weight, dx });
    }
    if (wantParams) {
      const dweight = ctx.alloc(weight.shape);
      recordDenseBackwardWeight(ctx.step, ctx.kernels, { dy, x: kept(x, node, "input"), dweight });
      params.set(node.weight, dweight);
      if (node.bias) params.set(node.bias, biasGradient(ctx, dy));
    }
    return { inputs: [dx], params };
  },
};

function clipLayer<N extends NodeOf<"relu"> | NodeOf<"clip">>(range: (node: N) => ClipRange): Layer<N> {
  return {
    forward(ctx, node, [x], _shapes, outShape) {
      const y = ctx.alloc(outShape);
      recordClip(ctx.step, ctx.kernels.elementwise, { x, y, range: range(node) });
      return { output: y };
    },
    backward(ctx, node, { inputs: [x], inputShapes: [xShape], dy, wantInput }) {
      if (!wantInput[0]) return { inputs: [null], params: new Map() };
      const dx = ctx.alloc(xShape);
      recordClipBackward(ctx.step, ctx.kernels.elementwise, { x: kept(x, node, "input"), dy, dx, range: range(node) });
      return { inputs: [dx], params: new Map() };
    },
  };
}

const leakyRelu: Layer<NodeOf<"leaky_relu">> = {
  forward(ctx, node, [x], _shapes, outShape) {
    const y = ctx.alloc(outShape);
    recordLeakyRelu(ctx.step, ctx.kernels.elementwise, { x, y, alpha: node.alpha });
    return { output: y };
  },
  backward(ctx, node, { inputs: [x], inputShapes: [xShape], dy, wantInput }) {
    if (!wantInput[0]) return { inputs: [null], params: new Map() };
    const dx = ctx.alloc(xShape);
    recordLeakyReluBackward(ctx.step, ctx.kernels.elementwise, {
      x: kept(x, node, "input"),
      dy,
      dx,
      alpha: node.alpha,
    });
    return { inputs: [dx], params: new Map() };
  },
};

const sigmoid: Layer<NodeOf<"sigmoid">> = {
  forward(ctx, _node, [x], _shapes, outShape) {
    const y = ctx.alloc(outShape);
    recordSigmoid(ctx.step, ctx.kernels.elementwise, { x, y });
    return { output: y };
  },
  backward(ctx, node, { inputShapes: [xShape], output, dy, wantInput }) {
    if (!wantInput[0]) return { inputs: [null], params: new Map() };
    const dx = ctx.alloc(xShape);
    recordSigmoidBackward(ctx.step, ctx.kernels.elementwise, { y: kept(output, node, "output"), dy, dx });
    return { inputs: [dx], params: new Map() };
  },
};

const add: Layer<NodeOf<"add">> = {
  forward(ctx, _node, [a, b], _shapes, outShape) {
    const out = ctx.alloc(outShape);
    recordAdd(ctx.step, ctx.kernels.elementwise, { a, b, out });
    return { output: out };
  },
  backward(ctx, _node, { inputShapes, dy, wantInput }) {
    // Both inputs receive dy unchanged; each gets its own copy so each can be disposed alone.
    const inputs = wantInput.map((want, i) => {
      if (!want) return null;
      const d = ctx.alloc(inputShapes[i]);
      ctx.step.copy(dy, d);
      return d;
    });
    return { inputs, params: new Map() };
  },
};

/** Flatten, reshape and view: a copy under the new shape (and the gradient copied back). */
const reshape: Layer = {
  forward(ctx, _node, [x], _shapes, outShape) {
    const y = ctx.alloc(outShape);
    ctx.step.copy(x, y);
    return { output: y };
  },
  backward(ctx, _node, { inputShapes: [xShape], dy, wantInput }) {
    if (!wantInput[0]) return { inputs: [null], params: new Map() };
    const dx = ctx.alloc(xShape);
    ctx.step.copy(dy, dx);
    return { inputs: [dx], params: new Map() };
  },
};

function batchNormParams(ctx: LayerContext, node: NodeOf<"batch_norm">) {
  return {
    gamma: ctx.param(node.scale),
    beta: ctx.param(node.shift),
    mean: ctx.param(node.mean),
    variance: ctx.param(node.variance),
    eps: node.epsilon,
  };
}

const batchNorm: Layer<NodeOf<"batch_norm">> = {
  forward(ctx, node, [x], _shapes, outShape) {
    const p = batchNormParams(ctx, node);
    const y = ctx.alloc(outShape);
    if (!ctx.training) {
      recordBatchNorm(ctx.step, ctx.kernels.batchNorm, { x, y, ...p });
      return { output: y };
    }
    const mean = ctx.alloc([outShape[1]]);
    const variance = ctx.alloc([outShape[1]]);
    recordBatchStats(ctx.step, ctx.kernels.batchNormTrain, {
      x,
      mean,
      variance,
      runningMean: p.mean,
      runningVariance: p.variance,
    });
    recordBatchNorm(ctx.step, ctx.kernels.batchNorm, { ...p, x, y, mean, variance });
    return { output: y, saved: [mean, variance] };
  },
  backward(ctx, node, { inputs: [x], inputShapes: [xShape], saved, dy, wantInput, wantParams }) {
    const p = batchNormParams(ctx, node);
    // In training mode the statistics are the batch's (saved by forward) and depend on x.
    const [mean, variance] = ctx.training ? saved : [p.mean, p.variance];
    const params = new Map<string, Tensor>();
    const needSums = wantParams || (ctx.training && wantInput[0]);
    const channels = xShape[1];
    const dgamma = needSums ? ctx.alloc([channels]) : null;
    const dbeta = needSums ? ctx.alloc([channels]) : null;
    if (dgamma && dbeta) {
      const input = kept(x, node, "input");
      recordBatchNormParamGrads(ctx.step, ctx.kernels.batchNorm, {
        x: input,
        dy,
        dgamma,
        dbeta,
        mean,
        variance,
        eps: p.eps,
      });
    }
    let dx: Tensor | null = null;
    if (wantInput[0]) {
      dx = ctx.alloc(xShape);
      if (ctx.training) {
        recordBatchNormTrainBackward(ctx.step, ctx.kernels.batchNormTrain, {
          x: kept(x, node, "input"),
          dy,
          mean,
          variance,
          gamma: p.gamma,
          eps: p.eps,
          dbeta: dbeta!,
          dgamma: dgamma!,
          dx,
        });
      } else {
        recordBatchNormBackward(ctx.step, ctx.kernels.batchNorm, { dy, dx, variance, gamma: p.gamma, eps: p.eps });
      }
    }
    if (wantParams) {
      params.set(node.scale, dgamma!);
      params.set(node.shift, dbeta!);
    } else {
      dgamma?.dispose();
      dbeta?.dispose();
    }
    return { inputs: [dx], params };
  },
};

function poolWindow(node: NodeOf<"max_pool"> | NodeOf<"avg_pool">): PoolWindow {
  const stride = node.stride ?? node.kernel;
  return {
    kernelHeight: node.kernel[0],
    kernelWidth: node.kernel[1],
    strideH: stride[0],
    strideW: stride[1],
    padH: node.padding[0],
    padW: node.padding[1],
    padBottom: node.paddingEnd?.[0],
    padRight: node.paddingEnd?.[1],
    dilationH: node.dilation?.[0],
    dilationW: node.dilation?.[1],
    ceilMode: node.ceilMode,
  };
}

const maxPool: Layer<NodeOf<"max_pool">> = {
  forward(ctx, node, [x], _shapes, outShape) {
    const y = ctx.alloc(outShape);
    const argmax = ctx.alloc(outShape, "u32");
    recordMaxPool(ctx.step, ctx.kernels.pool, { x, y, argmax, window: poolWindow(node) });
    return { output: y, saved: [argmax] };
  },
  backward(ctx, node, { inputShapes: [xShape], saved: [argmax], dy, wantInput }) {
    if (!wantInput[0]) return { inputs: [null], params: new Map() };
    const dx = ctx.alloc(xShape);
    recordMaxPoolBackward(ctx.step, ctx.kernels.pool, { dy, dx, argmax, window: poolWindow(node) });
    return { inputs: [dx], params: new Map() };
  },
};

const avgPool: Layer<NodeOf<"avg_pool">> = {
  forward(ctx, node, [x], _shapes, outShape) {
    const y = ctx.alloc(outShape);
    recordAvgPool(ctx.step, ctx.kernels.pool, {
      x,
      y,
      window: poolWindow(node),
      countIncludePad: node.countIncludePad,
    });
    return { output: y };
  },
  backward(ctx, node, { inputShapes: [xShape], dy, wantInput }) {
    if (!wantInput[0]) return { inputs: [null], params: new Map() };
    const dx = ctx.alloc(xShape);
    const window = poolWindow(node);
    recordAvgPoolBackward(ctx.step, ctx.kernels.pool, { dy, dx, window, countIncludePad: node.countIncludePad });
    return { inputs: [dx], params: new Map() };
  },
};

const globalAvgPool: Layer<NodeOf<"global_avg_pool">> = {
  forward(ctx, _node, [x], _shapes, outShape) {
    const y = ctx.alloc(outShape);
    recordGlobalAvgPool(ctx.step, ctx.kernels.pool, { x, y });
    return { output: y };
  },
  backward(ctx, _node, { inputShapes: [xShape], dy, wantInput }) {
    if (!wantInput[0]) return { inputs: [null], params: new Map() };
    const dx = ctx.alloc(xShape);
    recordGlobalAvgPoolBackward(ctx.step, ctx.kernels.pool, { dy, dx });
    return { inputs: [dx], params: new Map() };
  },
};

/** Every op's recordings. */
export const LAYERS: { [O in Op]: Layer<NodeOf<O>> } = {
  conv2d,
  dense: onLastAxis(dense),
  relu: clipLayer<NodeOf<"relu">>(() => RELU_RANGE),
  clip: clipLayer<NodeOf<"clip">>((node) => ({ lo: node.min, hi: node.max })),
  leaky_relu: leakyRelu,
  sigmoid,
  add,
  flatten: reshape,
  reshape,
  batch_norm: batchNorm,
  max_pool: maxPool,
  avg_pool: avgPool,
  global_avg_pool: globalAvgPool,
  ...REDUCE_LAYERS,
  ...MOVEMENT_LAYERS,
  view: reshape,
  ...ELEMENTWISE_LAYERS,
};
