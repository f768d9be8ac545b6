/**
 * The model family this project trains: conv-bn-relu blocks, each followed by 2x2 max-pooling,
 * then a dense classifier. Weights are initialised He-normal from a seed.
 */
import { mulberry32 } from "../io/prng.ts";
import type { Graph, GraphNode } from "../model/graph.ts";
import type { HostTensor } from "../model/model_files.ts";
import { sizeOf } from "../io/size_of.ts";

export interface ConvnetSpec {
  /** [channels, height, width] of the input. */
  input: [number, number, number];
  classes: number;
  /** Output channels of each conv-bn-relu-pool block. */
  widths: number[];
}

/** A convnet's graph and the shape of each of its parameters, before any weight is allocated. */
export interface ConvnetLayout {
  graph: Graph;
  shapes: Map<string, number[]>;
}

/** The graph and parameter shapes of a convnet: what `buildConvnet` fills, cheap at any width. */
export function convnetLayout(spec: ConvnetSpec): ConvnetLayout {
  const nodes: GraphNode[] = [];
  const shapes = new Map<string, number[]>();
  let [channels, height, width] = spec.input;
  let last = "image";
  spec.widths.forEach((out, i) => {
    const b = `block${i + 1}`;
    nodes.push(
      {
        name: `${b}.conv`,
        op: "conv2d",
        inputs: [last],
        stride: [1, 1],
        padding: [1, 1],
        dilation: [1, 1],
        groups: 1,
        weight: `${b}.conv.weight`,
      },
      {
        name: `${b}.bn`,
        op: "batch_norm",
        inputs: [`${b}.conv`],
        scale: `${b}.bn.weight`,
        shift: `${b}.bn.bias`,
        mean: `${b}.bn.running_mean`,
        variance: `${b}.bn.running_var`,
        epsilon: 1e-5,
      },
      { name: `${b}.relu`, op: "relu", inputs: [`${b}.bn`] },
      { name: `${b}.pool`, op: "max_pool", inputs: [`${b}.relu`], kernel: [2, 2], stride: [2, 2], padding: [0, 0] },
    );
    shapes.set(`${b}.conv.weight`, [out, channels, 3, 3]);
    for (const p of ["weight", "bias", "running_mean", "running_var"]) shapes.set(`${b}.bn.${p}`, [out]);
    channels = out;
    height = Math.floor(height / 2);
    width = Math.floor(width / 2);
    last = `${b}.pool`;
  });
  const features = channels * height * width;
  nodes.push(
    { name: "flatten", op: "flatten", inputs: [last] },
    { name: "classifier", op: "dense", inputs: ["flatten"], weight: "classifier.weight", bias: "classifier.bias" },
  );
  shapes.set("classifier.weight", [spec.classes, features]);
  shapes.set("classifier.bias", [spec.classes]);
  const graph: Graph = {
    format: "convnet-graph",
    version: 1,
    input: { name: "image", shape: spec.input },
    nodes,
    output: "classifier",
  };
  return { graph, shapes };
}

/** The graph and freshly initialised weights of a convnet. */
export function buildConvnet(spec: ConvnetSpec, seed: number): { graph: Graph; weights: Map<string, HostTensor> } {
  const { graph, shapes } = convnetLayout(spec);
  const normal = gaussian(seed);
  const weights = new Map<string, HostTensor>();
  for (const [name, shape] of shapes) {
    const size = sizeOf(shape);
    const data = new Float32Array(size);
    if (name.endsWith("conv.weight") || name === "classifier.weight") {
      const fanIn = size / shape[0];
      const std = Math.sqrt(2 / fanIn);
      for (let i = 0; i < size; i++) data[i] = normal() * std;
    } else if (name.endsWith("bn.weight") || name.endsWith("running_var")) {
      data.fill(1);
    }
    weights.set(name, { shape, data });
  }
  return { graph, weights };
}

/** Standard normal samples (Box-Muller) from a seeded generator. */
export function gaussian(seed: number): () => number {
  const random = mulberry32(seed);
  return () => {
    const u = 1 - random(); // (0, 1]: log stays finite
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
  };
}

/** Number of trainable values (running statistics excluded). */
export function parameterCount(weights: Map<string, HostTensor>): number {
  let n = 0;
  for (const [name, t] of weights) if (!/running_(mean|var)$/.test(name)) n += t.data.length;
  return n;
}
