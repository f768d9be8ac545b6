/** Small models with known gradients for the explanation tests: linear, and a ReLU MLP. */
import type { Gpu } from "../kernels/gpu.ts";
import { buildConvnet } from "../pipeline/train/architectures.ts";
import { mulberry32 } from "../pipeline/io/prng.ts";
import type { ExecutableModel } from "../pipeline/model/executor.ts";
import type { Graph } from "../pipeline/model/graph.ts";
import type { InMemoryData } from "../pipeline/data/in_memory.ts";
import type { HostTensor } from "../pipeline/model/model_files.ts";
import { train } from "../pipeline/train/train.ts";
import { randomArray } from "./oracle.ts";

export type Chw = [number, number, number];

function graphOf(input: Chw, nodes: Graph["nodes"]): Graph {
  return { format: "convnet-graph", version: 1, input: { name: "image", shape: input }, nodes, output: "out" };
}

/** logits = W flatten(normalize(x)) + b, with normalisation mean 0 and the given per-channel std. */
export function linearModel(input: Chw, classes: number, seed: number, std: number[]): ExecutableModel {
  const features = input[0] * input[1] * input[2];
  return {
    graph: graphOf(input, [
      { name: "flat", op: "flatten", inputs: ["image"] },
      { name: "out", op: "dense", inputs: ["flat"], weight: "w", bias: "b" },
    ]),
    weights: new Map<string, HostTensor>([
      ["w", { shape: [classes, features], data: randomArray(classes * features, seed) }],
      ["b", { shape: [classes], data: randomArray(classes, seed + 1) }],
    ]),
    manifest: { normalization: { mean: new Array(input[0]).fill(0), std } },
  };
}

/**
 * A ReLU MLP (dense, relu, dense) whose first layer has zero weights on every input value where
 * `ignored(c, y, x)` holds, so its output cannot depend on those pixels.
 */
export function mlpIgnoring(
  input: Chw,
  classes: number,
  hidden: number,
  seed: number,
  ignored: (c: number, y: number, x: number) => boolean,
): ExecutableModel {
  const [channels, height, width] = input;
  const features = channels * height * width;
  const w1 = randomArray(hidden * features, seed);
  for (let h = 0; h < hidden; h++) {
    for (let c = 0; c < channels; c++) {
      for (let y = 0; y < height; y++) {
        for (let x = 0; x < width; x++) if (ignored(c, y, x)) w1[h * features + (c * height + y) * width + x] = 0;
      }
    }
  }
  return {
    graph: graphOf(input, [
      { name: "flat", op: "flatten", inputs: ["image"] },
      { name: "hidden", op: "dense", inputs: ["flat"], weight: "w1", bias: "b1" },
      { name: "act", op: "relu", inputs: ["hidden"] },
      { name: "out", op: "dense", inputs: ["act"], weight: "w2", bias: "b2" },
    ]),
    weights: new Map<string, HostTensor>([
      ["w1", { shape: [hidden, features], data: w1 }],
      ["b1", { shape: [hidden], data: randomArray(hidden, seed + 1) }],
      ["w2", { shape: [classes, hidden], data: randomArray(classes * hidden, seed + 2) }],
      ["b2", { shape: [classes], data: randomArray(classes, seed + 3) }],
    ]),
    manifest: { normalization: { mean: new Array(channels).fill(0.5), std: new Array(channels).fill(0.5) } },
  };
}

/**
 * A randomly initialised conv-bn-relu-pool convnet (the shipped architecture) with random batch-norm
 * statistics and shifts, so it is not positively homogeneous: IG's path integral is not trivial.
 */
export function randomConvnet(input: Chw, classes: number, widths: number[], seed: number): ExecutableModel {
  const { graph, weights } = buildConvnet({ input, classes, widths }, seed);
  const random = mulberry32(seed + 7);
  for (const [name, t] of weights) {
    if (/bn\.(bias|running_mean)$/.test(name)) t.data.forEach((_, i) => (t.data[i] = 0.5 * (random() - 0.5)));
    if (/bn\.running_var$/.test(name)) t.data.forEach((_, i) => (t.data[i] = 0.5 + random()));
  }
  return {
    graph,
    weights,
    manifest: { normalization: { mean: new Array(input[0]).fill(0.4), std: new Array(input[0]).fill(0.3) } },
  };
}

/** Seeded images with values in [0, 1). */
export function randomImages(count: number, input: Chw, seed: number): Float32Array {
  return randomArray(count * input[0] * input[1] * input[2], seed).map((v) => (v + 1) / 2);
}

/**
 * A toy problem with a known answer: class c (< 4) has a bright square in quadrant c of a
 * 1 x size x size image on seeded noise; values in [0, 1].
 */
export function quadrants(count: number, size: number, seed: number): InMemoryData {
  const random = mulberry32(seed);
  const half = Math.floor(size / 2);
  const images = new Float32Array(count * size * size);
  const labels = Int32Array.from({ length: count }, (_, i) => i % 4);
  images.forEach((_, i) => {
    const image = Math.floor(i / (size * size)), y = Math.floor(i / size) % size, x = i % size;
    const quadrant = (y < half ? 0 : 2) + (x < half ? 0 : 1);
    images[i] = 0.3 * random() + (quadrant === labels[image] ? 0.7 * random() : 0);
  });
  return { images, labels, count, shape: [1, size, size], classes: ["0", "1", "2", "3"] };
}

/** A small convnet trained for a few epochs on `quadrants` (seconds on llvmpipe). */
export async function trainedQuadrantsModel(gpu: Gpu, size = 8): Promise<ExecutableModel> {
  const { graph, weights } = buildConvnet({ input: [1, size, size], classes: 4, widths: [8] }, 11);
  const manifest = {
    format: "convnet-model" as const,
    version: 1 as const,
    name: "quadrants",
    classes: ["0", "1", "2", "3"],
    input: { channels: 1, height: size, width: size },
    normalization: { mean: [0.3], std: [0.3] },
    inputRange: [0, 1] as [number, number],
  };
  const adam = { optimizer: "adam" as const, lr: 0.01, momentum: 0.9, weightDecay: 0 };
  const settings = { ...adam, epochs: 3, batchSize: 16, seed: 4, shift: 0, patchRate: 0 };
  const data = quadrants(128, size, 21);
  const dir = await Deno.makeTempDir({ prefix: "quadrants-" });
  try {
    const trained = await train(gpu, { graph, weights, manifest }, data, quadrants(32, size, 22), settings, dir);
    return { graph, weights: trained.weights, manifest };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
