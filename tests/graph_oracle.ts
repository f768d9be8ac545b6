/**
 * Float64 forward pass of a model graph: the reference the executor is checked against, and
 * (through finite differences) its backward. Convolution and pooling read their geometry straight
 * from the node's attributes (index 0 is height, 1 is width) in plain loops of their own, so a
 * stride or padding the executor maps onto the wrong axis shows here as a different answer.
 * Elementwise ops, batch norm and concatenation use the per-op oracles.
 */
import type { Graph, GraphNode, NodeOf } from "../pipeline/model/graph.ts";
import { addOracle, batchNormOracle, clipOracle, leakyReluOracle, sigmoidOracle } from "./ops_oracle.ts";
import { movementOracle } from "./movement_oracle.ts";
import { matmulOracle } from "./oracle.ts";
import { reduceGroupNode } from "./reduce_oracle.ts";
import { elementwiseNodeOracle } from "./elementwise_oracle.ts";

export interface OracleValue {
  shape: number[];
  data: Float64Array;
}

export interface OracleModel {
  graph: Graph;
  weights: Map<string, { shape: number[]; data: ArrayLike<number> }>;
  normalization: { mean: number[]; std: number[] };
}

/** A sliding window as a conv or pooling node gives it: [height, width] pairs. */
interface Window {
  kernel: readonly number[];
  stride: readonly number[];
  padding: readonly number[];
  dilation: readonly number[];
}

/**
 * Slides `win` over an h x w plane in floor mode: the output height and width, and for each output
 * pixel (row-major) the [kernel tap, input pixel] pairs whose tap lands inside the plane (padding
 * reads nothing). Taps and pixels are row-major indices into the kernel and the plane.
 */
function slide(h: number, w: number, win: Window): { oh: number; ow: number; taps: [number, number][][] } {
  const [oh, ow] = [h, w].map((size, a) =>
    Math.floor((size + 2 * win.padding[a] - win.dilation[a] * (win.kernel[a] - 1) - 1) / win.stride[a]) + 1
  );
  if (!(oh >= 1 && ow >= 1)) throw new Error(`graph oracle: window over ${h}x${w} has an empty output`);
  const taps: [number, number][][] = [];
  for (let oy = 0; oy < oh; oy++) {
    for (let ox = 0; ox < ow; ox++) {
      const inside: [number, number][] = [];
      for (let r = 0; r < win.kernel[0]; r++) {
        const iy = oy * win.stride[0] - win.padding[0] + r * win.dilation[0];
        for (let s = 0; s < win.kernel[1]; s++) {
          const ix = ox * win.stride[1] - win.padding[1] + s * win.dilation[1];
          if (iy >= 0 && iy < h && ix >= 0 && ix < w) inside.push([r * win.kernel[1] + s, iy * w + ix]);
        }
      }
      taps.push(inside);
    }
  }
  return { oh, ow, taps };
}

/** Grouped conv2d of x with weight [Cout, Cin / groups, R, S] and an optional bias. */
function conv2d(
  node: NodeOf<"conv2d">,
  x: OracleValue,
  weight: ArrayLike<number>,
  weightShape: number[],
  bias?: ArrayLike<number>,
): OracleValue {
  const [n, c, h, w] = x.shape;
  const [co, cPerGroup, r, s] = weightShape;
  const { oh, ow, taps } = slide(h, w, { ...node, kernel: [r, s] });
  const coPerGroup = co / node.groups;
  const y = new Float64Array(n * co * oh * ow);
  for (let b = 0; b < n; b++) {
    for (let o = 0; o < co; o++) {
      const firstChannel = Math.floor(o / coPerGroup) * cPerGroup;
      taps.forEach((inside, p) => {
        let sum = bias ? bias[o] : 0;
        for (let k = 0; k < cPerGroup; k++) {
          const plane = (b * c + firstChannel + k) * h * w;
          const kernel = (o * cPerGroup + k) * r * s;
          for (const [tap, pixel] of inside) sum += weight[kernel + tap] * x.data[plane + pixel];
        }
        y[(b * co + o) * oh * ow + p] = sum;
      });
    }
  }
  return { shape: [n, co, oh, ow], data: y };
}

/** Max or average pooling of each channel; the average divides by the kernel area or by the real taps. */
function pool(node: NodeOf<"max_pool"> | NodeOf<"avg_pool">, x: OracleValue): OracleValue {
  const [n, c, h, w] = x.shape;
  const { oh, ow, taps } = slide(h, w, { ...node, stride: node.stride ?? node.kernel, dilation: [1, 1] });
  const area = node.kernel[0] * node.kernel[1];
  const y = new Float64Array(n * c * oh * ow);
  for (let plane = 0; plane < n * c; plane++) {
    taps.forEach((inside, p) => {
      const values = inside.map(([, pixel]) => x.data[plane * h * w + pixel]);
      y[plane * oh * ow + p] = node.op === "max_pool"
        ? Math.max(...values)
        : values.reduce((sum, v) => sum + v, 0) / (node.countIncludePad ? area : values.length);
    });
  }
  return { shape: [n, c, oh, ow], data: y };
}

/** Per-channel mean and biased variance over N and the spatial dims. */
function batchStats(x: OracleValue): { mean: Float64Array; variance: Float64Array } {
  const [n, c] = x.shape;
  const hw = x.data.length / (n * c);
  const mean = new Float64Array(c), variance = new Float64Array(c);
  for (let ch = 0; ch < c; ch++) {
    for (let i = 0; i < n; i++) for (let j = 0; j < hw; j++) mean[ch] += x.data[(i * c + ch) * hw + j];
    mean[ch] /= n * hw;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < hw; j++) variance[ch] += (x.data[(i * c + ch) * hw + j] - mean[ch]) ** 2;
    }
    variance[ch] /= n * hw;
  }
  return { mean, variance };
}

/**
 * The model's output for NCHW images `x` (in image space: normalisation is applied first).
 * `params` overrides weights (for finite differences); `training` uses batch statistics.
 */
export function graphForwardOracle(
  model: OracleModel,
  x: ArrayLike<number>,
  batch: number,
  options: { params?: Map<string, ArrayLike<number>>; training?: boolean } = {},
): OracleValue {
  const { graph } = model;
  const param = (name: string) => options.params?.get(name) ?? model.weights.get(name)!.data;
  const paramShape = (name: string) => model.weights.get(name)!.shape;
  const [c, h, w] = graph.input.shape;
  const plane = h * w;
  const input = Float64Array.from(x, (v, i) => {
    const ch = Math.floor(i / plane) % c;
    return (v - model.normalization.mean[ch]) / model.normalization.std[ch];
  });
  const values = new Map<string, OracleValue>([[graph.input.name, { shape: [batch, c, h, w], data: input }]]);
  for (const node of graph.nodes) {
    const inputs = node.inputs.map((name) => values.get(name)!);
    values.set(node.name, forwardNode(node, inputs, param, paramShape, options.training ?? false));
  }
  return values.get(graph.output)!;
}

function forwardNode(
  node: GraphNode,
  inputs: OracleValue[],
  param: (name: string) => ArrayLike<number>,
  paramShape: (name: string) => number[],
  training: boolean,
): OracleValue {
  const [a, b] = inputs;
  switch (node.op) {
    case "conv2d":
      return conv2d(node, a, param(node.weight), paramShape(node.weight), node.bias ? param(node.bias) : undefined);
    case "dense": {
      const [o, i] = paramShape(node.weight);
      const data = matmulOracle(a.data, param(node.weight), a.data.length / i, o, i, false, true);
      if (node.bias) {
        const bias = param(node.bias);
        for (let k = 0; k < data.length; k++) data[k] += bias[k % o];
      }
      return { shape: [...a.shape.slice(0, -1), o], data };
    }
    case "batch_norm": {
      const stats = training ? batchStats(a) : { mean: param(node.mean), variance: param(node.variance) };
      const data = batchNormOracle(a.data, a.shape, {
        ...stats,
        gamma: param(node.scale),
        beta: param(node.shift),
        eps: node.epsilon,
      });
      return { shape: a.shape, data };
    }
    case "relu":
      return { shape: a.shape, data: clipOracle(a.data, 0, Infinity) };
    case "clip":
      return { shape: a.shape, data: clipOracle(a.data, node.min, node.max) };
    case "leaky_relu":
      return { shape: a.shape, data: leakyReluOracle(a.data, node.alpha) };
    case "sigmoid":
      return { shape: a.shape, data: sigmoidOracle(a.data) };
    case "concat":
    case "view":
    case "permute":
    case "slice":
    case "pad":
    case "expand":
      return movementOracle(node, inputs);
    case "constant":
      return movementOracle(node, inputs, {
        shape: paramShape(node.tensor),
        data: Float64Array.from(param(node.tensor)),
      });
    case "max_pool":
    case "avg_pool":
      return pool(node, a);
    case "global_avg_pool": {
      const [n, ch, hh, ww] = a.shape;
      const data = new Float64Array(n * ch);
      for (let i = 0; i < data.length; i++) {
        for (let j = 0; j < hh * ww; j++) data[i] += a.data[i * hh * ww + j];
        data[i] /= hh * ww;
      }
      return { shape: [n, ch], data };
    }
    case "add":
      return { shape: a.shape, data: addOracle(a.data, b!.data) };
    case "flatten":
      return { shape: [a.shape[0], a.data.length / a.shape[0]], data: a.data };
    case "reshape":
      return { shape: [a.shape[0], ...node.shape], data: a.data };
    case "reduce":
    case "softmax":
    case "layer_norm":
    case "instance_norm":
    case "matmul":
      return reduceGroupNode(node, inputs, param);
    // Elementwise group (tests/elementwise_oracle.ts).
    case "unary":
    case "hard_sigmoid":
    case "pow":
    case "binary":
      return elementwiseNodeOracle(node, inputs, (name) => ({ shape: paramShape(name), data: param(name) }));
  }
}
