/**
 * A small ResNet-style model for end-to-end tests: conv-bn-relu, a residual add, depthwise and
 * grouped convs, max, average and global pooling, clip (ReLU6), flatten and a dense head,
 * with seeded random weights and batch-norm statistics.
 */
import type { Graph } from "../pipeline/model/graph.ts";
import type { HostTensor, ModelFiles } from "../pipeline/model/model_files.ts";
import { randomArray } from "./oracle.ts";
import { sizeOf } from "../pipeline/io/size_of.ts";

export function resnetFixture(seed = 7): ModelFiles {
  const graph: Graph = {
    format: "convnet-graph",
    version: 1,
    input: { name: "image", shape: [3, 9, 9] },
    nodes: [
      {
        name: "conv1",
        op: "conv2d",
        inputs: ["image"],
        stride: [1, 1],
        padding: [1, 1],
        dilation: [1, 1],
        groups: 1,
        weight: "conv1.w",
        bias: "conv1.b",
      },
      {
        name: "bn1",
        op: "batch_norm",
        inputs: ["conv1"],
        scale: "bn1.g",
        shift: "bn1.b",
        mean: "bn1.m",
        variance: "bn1.v",
        epsilon: 1e-5,
      },
      { name: "relu1", op: "relu", inputs: ["bn1"] },
      {
        name: "dw",
        op: "conv2d",
        inputs: ["relu1"],
        stride: [1, 1],
        padding: [2, 2],
        dilation: [2, 2],
        groups: 4,
        weight: "dw.w",
      },
      {
        name: "bn2",
        op: "batch_norm",
        inputs: ["dw"],
        scale: "bn2.g",
        shift: "bn2.b",
        mean: "bn2.m",
        variance: "bn2.v",
        epsilon: 1e-5,
      },
      { name: "res", op: "add", inputs: ["relu1", "bn2"] },
      { name: "relu6", op: "clip", inputs: ["res"], min: 0, max: 6 },
      { name: "pool", op: "max_pool", inputs: ["relu6"], kernel: [2, 2], stride: [2, 2], padding: [0, 0] },
      {
        name: "avg",
        op: "avg_pool",
        inputs: ["pool"],
        kernel: [2, 2],
        stride: [1, 1],
        padding: [0, 0],
        countIncludePad: false,
      },
      {
        name: "conv3",
        op: "conv2d",
        inputs: ["avg"],
        stride: [2, 2],
        padding: [1, 1],
        dilation: [1, 1],
        groups: 2,
        weight: "conv3.w",
        bias: "conv3.b",
      },
      { name: "gap", op: "global_avg_pool", inputs: ["conv3"] },
      { name: "flat", op: "flatten", inputs: ["gap"] },
      { name: "fc", op: "dense", inputs: ["flat"], weight: "fc.w", bias: "fc.b" },
    ],
    output: "fc",
  };
  const shapes: Record<string, number[]> = {
    "conv1.w": [4, 3, 3, 3],
    "conv1.b": [4],
    "dw.w": [4, 1, 3, 3],
    "conv3.w": [6, 2, 3, 3],
    "conv3.b": [6],
    "fc.w": [5, 6],
    "fc.b": [5],
  };
  for (const bn of ["bn1", "bn2"]) {
    for (const p of ["g", "b", "m", "v"]) shapes[`${bn}.${p}`] = [4];
  }
  const weights = new Map<string, HostTensor>();
  let s = seed;
  for (const [name, shape] of Object.entries(shapes)) {
    const size = sizeOf(shape);
    let data = randomArray(size, ++s);
    if (name.endsWith(".v")) data = data.map((v) => 0.5 + Math.abs(v)); // variances > 0
    if (name.endsWith(".g")) data = data.map((v) => 1 + 0.5 * v);
    weights.set(name, { shape, data });
  }
  return {
    graph,
    weights,
    manifest: {
      format: "convnet-model",
      version: 1,
      name: "resnet-fixture",
      classes: ["a", "b", "c", "d", "e"],
      input: { channels: 3, height: 9, width: 9 },
      normalization: { mean: [0.5, 0.4, 0.3], std: [0.25, 0.5, 1] },
      inputRange: [0, 1],
    },
  };
}
