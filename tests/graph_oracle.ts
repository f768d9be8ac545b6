/**
 * Float64 forward pass of a model graph, built from the per-op oracles: the reference the
 * executor is checked against, and (through finite differences) its backward.
 */
import type { Conv2dGeometry } from "../kernels/conv2d.ts";
import type { PoolWindow } from "../kernels/pool.ts";
import type { Graph, GraphNode } from "../pipeline/model/graph.ts";
import { conv2dForwardOracle } from "./conv_oracle.ts";
import {
  addOracle,
  avgPoolOracle,
  batchNormOracle,
  clipOracle,
  concatOracle,
  leakyReluOracle,
  maxPoolOracle,
  poolOutShape,
  sigmoidOracle,
} from "./ops_oracle.ts";
import { matmulOracle } from "./oracle.ts";

export interface OracleValue {
  shape: number[];
  data: Float64Array;
}

export interface OracleModel {
  graph: Graph;
  weights: Map<string, { shape: number[]; data: ArrayLike<number> }>;
  normalization: { mean: number[]; std: number[] };
}

function poolWindow(node: Extract<GraphNode, { op: "max_pool" | "avg_pool" }>): PoolWindow {
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
    case "conv2d": {
      const ws = paramShape(node.weight);
      const geom: Conv2dGeometry = {
        batch: a.shape[0],
        inChannels: a.shape[1],
        inHeight: a.shape[2],
        inWidth: a.shape[3],
        outChannels: ws[0],
        kernelHeight: ws[2],
        kernelWidth: ws[3],
        strideH: node.stride[0],
        strideW: node.stride[1],
        padH: node.padding[0],
        padW: node.padding[1],
        dilationH: node.dilation[0],
        dilationW: node.dilation[1],
        groups: node.groups,
      };
      const data = conv2dForwardOracle(geom, a.data, param(node.weight), node.bias ? param(node.bias) : undefined);
      const perMap = data.length / (geom.batch * geom.outChannels);
      return { shape: [geom.batch, geom.outChannels, ...spatial(perMap, geom)], data };
    }
    case "dense": {
      const [o, i] = paramShape(node.weight);
      const data = matmulOracle(a.data, param(node.weight), a.shape[0], o, i, false, true);
      if (node.bias) {
        const bias = param(node.bias);
        for (let k = 0; k < data.length; k++) data[k] += bias[k % o];
      }
      return { shape: [a.shape[0], o], data };
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
    case "concat": {
      const channels = inputs.reduce((sum, v) => sum + v.shape[1], 0);
      return { shape: [a.shape[0], channels, ...a.shape.slice(2)], data: concatOracle(inputs) };
    }
    case "max_pool":
      return {
        shape: poolOutShape(a.shape, poolWindow(node)),
        data: maxPoolOracle(a.data, a.shape, poolWindow(node)).y,
      };
    case "avg_pool":
      return {
        shape: poolOutShape(a.shape, poolWindow(node)),
        data: avgPoolOracle(a.data, a.shape, poolWindow(node), node.countIncludePad),
      };
    case "global_avg_pool": {
      const [n, ch, hh, ww] = a.shape;
      const window = { kernelHeight: hh, kernelWidth: ww, strideH: 1, strideW: 1, padH: 0, padW: 0 };
      return { shape: [n, ch], data: avgPoolOracle(a.data, a.shape, window) };
    }
    case "add":
      return { shape: a.shape, data: addOracle(a.data, b!.data) };
    case "flatten":
      return { shape: [a.shape[0], a.data.length / a.shape[0]], data: a.data };
    case "reshape":
      return { shape: [a.shape[0], ...node.shape], data: a.data };
  }
}

function spatial(perMap: number, geom: Conv2dGeometry): [number, number] {
  const { padH, padW, dilationH, dilationW, kernelHeight, kernelWidth, strideH, strideW } = geom;
  const oh = Math.floor((geom.inHeight + 2 * padH - dilationH * (kernelHeight - 1) - 1) / strideH) + 1;
  const ow = Math.floor((geom.inWidth + 2 * padW - dilationW * (kernelWidth - 1) - 1) / strideW) + 1;
  if (oh * ow !== perMap) throw new Error("conv oracle: unexpected output size");
  return [oh, ow];
}
