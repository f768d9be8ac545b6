/**
 * What each graph op does: its output shape, its forward recording and its backward recording.
 *
 * The executor walks the graph and calls these; they only record kernels into the step (no
 * readback). Shapes are checked here so a mismatch names the node and both shapes.
 */
import {
  type Conv2dGeometry,
  conv2dOutputSize,
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
import { recordMatmul } from "../../kernels/matmul.ts";
import type { EngineKernels } from "../../kernels/mod.ts";
import { recordBatchNorm, recordBatchNormBackward, recordBatchNormParamGrads } from "../../kernels/batch_norm.ts";
import { recordBatchNormTrainBackward, recordBatchStats } from "../../kernels/batch_norm_train.ts";
import {
  poolOutputSize,
  type PoolWindow,
  recordAvgPool,
  recordAvgPoolBackward,
  recordGlobalAvgPool,
  recordGlobalAvgPoolBackward,
  recordMaxPool,
  recordMaxPoolBackward,
} from "../../kernels/pool.ts";
import { sizeOf, type Tensor, type TensorLike } from "../../kernels/tensor.ts";
import type { Graph, GraphNode } from "./graph.ts";
import { InputError } from "../io/input_error.ts";

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

/** Backward request for one node. */
export interface BackwardArgs {
  inputs: TensorLike[];
  inputShapes: number[][];
  output: TensorLike;
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

export interface Layer<N extends GraphNode = GraphNode> {
  outputShape(node: N, inputs: number[][], paramShape: (name: string) => number[]): number[];
  forward(ctx: LayerContext, node: N, inputs: TensorLike[], inputShapes: number[][], outShape: number[]): ForwardOutput;
  backward(ctx: LayerContext, node: N, args: BackwardArgs): BackwardOutput;
}

function shapeError(node: GraphNode, message: string): InputError {
  return new InputError(`node "${node.name}" (${node.op}): ${message}`);
}

function fmt(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

function requireRank(node: GraphNode, shape: number[], rank: number, what = "input"): void {
  if (shape.length !== rank) throw shapeError(node, `${what} ${fmt(shape)} must have ${rank} dims`);
}

type NodeOf<O extends GraphNode["op"]> = Extract<GraphNode, { op: O }>;

function convGeometry(node: NodeOf<"conv2d">, x: number[], w: number[]): Conv2dGeometry {
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
    dilationH: node.dilation[0],
    dilationW: node.dilation[1],
    groups: node.groups,
  };
}

const conv2d: Layer<NodeOf<"conv2d">> = {
  outputShape(node, [x], paramShape) {
    requireRank(node, x, 4);
    const w = paramShape(node.weight);
    requireRank(node, w, 4, `weight "${node.weight}"`);
    if (w[1] * node.groups !== x[1]) {
      throw shapeError(
        node,
        `input ${fmt(x)} has ${x[1]} channels but weight "${node.weight}" ${
          fmt(w)
        } with ${node.groups} group(s) expects ${w[1] * node.groups}`,
      );
    }
    if (node.bias) {
      const b = paramShape(node.bias);
      if (b.length !== 1 || b[0] !== w[0]) {
        throw shapeError(node, `bias ${fmt(b)} must be [${w[0]}] for weight ${fmt(w)}`);
      }
    }
    try {
      const { outHeight, outWidth } = conv2dOutputSize(convGeometry(node, x, w));
      return [x[0], w[0], outHeight, outWidth];
    } catch (e) {
      throw shapeError(node, `input ${fmt(x)}, weight ${fmt(w)}: ${(e as Error).message}`);
    }
  },
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
      recordConv2dBackwardWeight(ctx.step, ctx.kernels.conv2d, { dy, x, dweight, geom });
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

const dense: Layer<NodeOf<"dense">> = {
  outputShape(node, [x], paramShape) {
    const w = paramShape(node.weight);
    requireRank(node, w, 2, `weight "${node.weight}"`);
    if (x.length !== 2 || x[1] !== w[1]) {
      throw shapeError(
        node,
        `input ${fmt(x)} does not match weight "${node.weight}" ${fmt(w)}: expected [batch, ${w[1]}]`,
      );
    }
    if (node.bias) {
      const b = paramShape(node.bias);
      if (b.length !== 1 || b[0] !== w[0]) {
        throw shapeError(node, `bias ${fmt(b)} must be [${w[0]}] for weight ${fmt(w)}`);
      }
    }
    return [x[0], w[0]];
  },
  forward(ctx, node, [x], [xShape], outShape) {
    const weight = ctx.param(node.weight);
    const y = ctx.alloc(outShape);
    recordMatmul(ctx.step, ctx.kernels.matmul, {
      a: x,
      b: weight,
      c: y,
      bias: node.bias ? ctx.param(node.bias) : undefined,
      M: xShape[0],
      N: outShape[1],
      K: xShape[1],
      transB: true,
    });
    return { output: y };
  },
  backward(ctx, node, { inputs: [x], inputShapes: [xShape], dy, wantInput, wantParams }) {
    const weight = ctx.param(node.weight);
    const [batch, inFeatures] = xShape;
    const outFeatures = weight.shape[0];
    const params = new Map<string, Tensor>();
    let dx: Tensor | null = null;
    if (wantInput[0]) {
      dx = ctx.alloc(xShape);
      recordMatmul(ctx.step, ctx.kernels.matmul, { a: dy, b: weight, c: dx, M: batch, N: inFeatures, K: outFeatures });
    }
    if (wantParams) {
      const dweight = ctx.alloc(weight.shape);
      recordMatmul(ctx.step, ctx.kernels.matmul, {
        a: dy,
        b: x,
        c: dweight,
        M: outFeatures,
        N: inFeatures,
        K: batch,
        transA: true,
      });
      params.set(node.weight, dweight);
      if (node.bias) params.set(node.bias, biasGradient(ctx, dy));
    }
    return { inputs: [dx], params };
  },
};

function clipLayer<N extends NodeOf<"relu"> | NodeOf<"clip">>(range: (node: N) => ClipRange): Layer<N> {
  return {
    outputShape: (_node, [x]) => x,
    forward(ctx, node, [x], _shapes, outShape) {
      const y = ctx.alloc(outShape);
      recordClip(ctx.step, ctx.kernels.elementwise, { x, y, range: range(node) });
      return { output: y };
    },
    backward(ctx, node, { inputs: [x], inputShapes: [xShape], dy, wantInput }) {
      if (!wantInput[0]) return { inputs: [null], params: new Map() };
      const dx = ctx.alloc(xShape);
      recordClipBackward(ctx.step, ctx.kernels.elementwise, { x, dy, dx, range: range(node) });
      return { inputs: [dx], params: new Map() };
    },
  };
}

const leakyRelu: Layer<NodeOf<"leaky_relu">> = {
  outputShape: (_node, [x]) => x,
  forward(ctx, node, [x], _shapes, outShape) {
    const y = ctx.alloc(outShape);
    recordLeakyRelu(ctx.step, ctx.kernels.elementwise, { x, y, alpha: node.alpha });
    return { output: y };
  },
  backward(ctx, node, { inputs: [x], inputShapes: [xShape], dy, wantInput }) {
    if (!wantInput[0]) return { inputs: [null], params: new Map() };
    const dx = ctx.alloc(xShape);
    recordLeakyReluBackward(ctx.step, ctx.kernels.elementwise, { x, dy, dx, alpha: node.alpha });
    return { inputs: [dx], params: new Map() };
  },
};

const sigmoid: Layer<NodeOf<"sigmoid">> = {
  outputShape: (_node, [x]) => x,
  forward(ctx, _node, [x], _shapes, outShape) {
    const y = ctx.alloc(outShape);
    recordSigmoid(ctx.step, ctx.kernels.elementwise, { x, y });
    return { output: y };
  },
  backward(ctx, _node, { inputShapes: [xShape], output, dy, wantInput }) {
    if (!wantInput[0]) return { inputs: [null], params: new Map() };
    const dx = ctx.alloc(xShape);
    recordSigmoidBackward(ctx.step, ctx.kernels.elementwise, { y: output, dy, dx });
    return { inputs: [dx], params: new Map() };
  },
};

const add: Layer<NodeOf<"add">> = {
  outputShape(node, [a, b]) {
    if (fmt(a) !== fmt(b)) throw shapeError(node, `inputs ${fmt(a)} and ${fmt(b)} must have the same shape`);
    return a;
  },
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

/**
 * Channel concatenation as buffer copies: in NCHW each image's channels of one input are one
 * contiguous block, so forward copies one block per image and input, and backward copies back.
 */
const concat: Layer<NodeOf<"concat">> = {
  outputShape(node, inputs) {
    for (const x of inputs) requireRank(node, x, inputs[0].length);
    const [first] = inputs;
    const mismatch = inputs.find((x) => x.some((d, i) => i !== 1 && d !== first[i]));
    if (first.length < 2 || mismatch) {
      throw shapeError(node, `inputs ${inputs.map(fmt).join(", ")} must agree on every axis but the channel axis`);
    }
    return [first[0], inputs.reduce((sum, x) => sum + x[1], 0), ...first.slice(2)];
  },
  forward(ctx, _node, inputs, inputShapes, outShape) {
    const y = ctx.alloc(outShape);
    forEachConcatBlock(
      inputShapes,
      outShape,
      (i, from, to, count) => ctx.step.copyRange(inputs[i], from, y, to, count),
    );
    return { output: y };
  },
  backward(ctx, _node, { inputShapes, dy, wantInput }) {
    const outShape = [...dy.shape];
    const inputs = wantInput.map((want, i) => (want ? ctx.alloc(inputShapes[i]) : null));
    forEachConcatBlock(inputShapes, outShape, (i, from, to, count) => {
      const dx = inputs[i];
      if (dx) ctx.step.copyRange(dy, to, dx, from, count);
    });
    return { inputs, params: new Map() };
  },
};

/** Calls `visit(input, offsetInInput, offsetInOutput, count)` for every image's block of every input. */
function forEachConcatBlock(
  inputShapes: number[][],
  outShape: number[],
  visit: (input: number, from: number, to: number, count: number) => void,
): void {
  const perImage = sizeOf(outShape.slice(1));
  for (let n = 0; n < outShape[0]; n++) {
    let to = n * perImage;
    inputShapes.forEach((shape, i) => {
      const block = sizeOf(shape.slice(1));
      visit(i, n * block, to, block);
      to += block;
    });
  }
}

/** Flatten and reshape: a copy under the new shape (and the gradient copied back). */
function reshapeLayer<N extends NodeOf<"flatten"> | NodeOf<"reshape">>(
  target: (node: N, x: number[]) => number[],
): Layer<N> {
  return {
    outputShape: (node, [x]) => target(node, x),
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
}

function reshapeTarget(node: NodeOf<"reshape">, x: number[]): number[] {
  const rest = sizeOf(x.slice(1));
  const known = sizeOf(node.shape.filter((d) => d !== -1));
  const free = node.shape.filter((d) => d === -1).length;
  if (free > 1) throw shapeError(node, `shape ${fmt(node.shape)} has more than one -1`);
  const shape = node.shape.map((d) => (d === -1 ? rest / known : d));
  if (shape.some((d) => !Number.isInteger(d)) || sizeOf(shape) !== rest) {
    throw shapeError(node, `cannot reshape input ${fmt(x)} to [batch, ${node.shape.join(", ")}]`);
  }
  return [x[0], ...shape];
}

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
  outputShape(node, [x], paramShape) {
    if (x.length < 2) throw shapeError(node, `input ${fmt(x)} needs a channel axis`);
    for (const name of [node.scale, node.shift, node.mean, node.variance]) {
      const p = paramShape(name);
      if (p.length !== 1 || p[0] !== x[1]) {
        throw shapeError(node, `parameter "${name}" ${fmt(p)} must be [${x[1]}] for input ${fmt(x)}`);
      }
    }
    return x;
  },
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
      recordBatchNormParamGrads(ctx.step, ctx.kernels.batchNorm, { x, dy, dgamma, dbeta, mean, variance, eps: p.eps });
    }
    let dx: Tensor | null = null;
    if (wantInput[0]) {
      dx = ctx.alloc(xShape);
      if (ctx.training) {
        recordBatchNormTrainBackward(ctx.step, ctx.kernels.batchNormTrain, {
          x,
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
  };
}

function poolShape(node: NodeOf<"max_pool"> | NodeOf<"avg_pool">, x: number[]): number[] {
  requireRank(node, x, 4);
  try {
    const { outHeight, outWidth } = poolOutputSize(x[2], x[3], poolWindow(node));
    return [x[0], x[1], outHeight, outWidth];
  } catch (e) {
    throw shapeError(node, `input ${fmt(x)}: ${(e as Error).message}`);
  }
}

const maxPool: Layer<NodeOf<"max_pool">> = {
  outputShape: (node, [x]) => poolShape(node, x),
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
  outputShape: (node, [x]) => poolShape(node, x),
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
  outputShape(node, [x]) {
    requireRank(node, x, 4);
    return [x[0], x[1]];
  },
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

export const LAYERS: { [O in GraphNode["op"]]: Layer<NodeOf<O>> } = {
  conv2d,
  dense,
  relu: clipLayer<NodeOf<"relu">>(() => RELU_RANGE),
  clip: clipLayer<NodeOf<"clip">>((node) => ({ lo: node.min, hi: node.max })),
  leaky_relu: leakyRelu,
  sigmoid,
  add,
  concat,
  flatten: reshapeLayer<NodeOf<"flatten">>((_node, x) => [x[0], sizeOf(x.slice(1))]),
  reshape: reshapeLayer<NodeOf<"reshape">>(reshapeTarget),
  batch_norm: batchNorm,
  max_pool: maxPool,
  avg_pool: avgPool,
  global_avg_pool: globalAvgPool,
};

/**
 * The shape of every value of a graph at a batch size, from the input's and the parameters'
 * shapes; a mismatch is an InputError naming the node and both shapes.
 *
 * @example
 * ```ts
 * const shapes = graphShapes(model.graph, (name) => model.weights.get(name)!.shape, 1);
 * console.log(shapes.get(model.graph.output)); // [1, classes]
 * ```
 */
export function graphShapes(
  graph: Graph,
  paramShape: (name: string) => number[],
  batch: number,
): Map<string, number[]> {
  const shapes = new Map([[graph.input.name, [batch, ...graph.input.shape]]]);
  for (const node of graph.nodes) {
    const inputs = node.inputs.map((i) => shapes.get(i)!);
    shapes.set(node.name, (LAYERS[node.op] as Layer).outputShape(node, inputs, paramShape));
  }
  return shapes;
}
