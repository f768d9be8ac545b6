/**
 * Small models and data for the audit tests: a linear model (flatten + dense) whose attack
 * gradients are known in closed form, the "bars" problem (class c = a bright bar in band c) as an
 * IDX pair, and a tiny convnet trained on it.
 */
import { join } from "node:path";
import type { Gpu } from "../kernels/gpu.ts";
import { buildConvnet } from "../pipeline/train/architectures.ts";
import { mulberry32 } from "../pipeline/io/prng.ts";
import { encodeIdx } from "../pipeline/formats/idx.ts";
import type { InMemoryData } from "../pipeline/data/in_memory.ts";
import type { ModelFiles } from "../pipeline/model/model_files.ts";
import { train } from "../pipeline/train/train.ts";
import { randomArray } from "./oracle.ts";

const manifestFields = {
  format: "convnet-model" as const,
  version: 1 as const,
  inputRange: [0, 1] as [number, number],
};

/** logits = W ((x - mean_c) / std_c) + b over a [channels, size, size] image. */
export function linearModel(seed: number, channels = 2, size = 3, classes = 4): ModelFiles {
  const features = channels * size * size;
  return {
    graph: {
      format: "convnet-graph",
      version: 1,
      input: { name: "image", shape: [channels, size, size] },
      nodes: [
        { name: "flat", op: "flatten", inputs: ["image"] },
        { name: "fc", op: "dense", inputs: ["flat"], weight: "fc.w", bias: "fc.b" },
      ],
      output: "fc",
    },
    weights: new Map([
      ["fc.w", { shape: [classes, features], data: randomArray(classes * features, seed).map((v) => 3 * v) }],
      ["fc.b", { shape: [classes], data: randomArray(classes, seed + 1) }],
    ]),
    manifest: {
      ...manifestFields,
      name: "linear",
      classes: Array.from({ length: classes }, (_, c) => `class ${c}`),
      input: { channels, height: size, width: size },
      normalization: {
        mean: Array.from({ length: channels }, (_, c) => 0.3 + 0.2 * c),
        std: Array.from({ length: channels }, (_, c) => 0.5 / (c + 1)),
      },
    },
  };
}

/** Class c has a bright bar in row band c of `classes` bands, on seeded noise; values in [0, 1]. */
export function bars(count: number, classes: number, size: number, seed: number): InMemoryData {
  const random = mulberry32(seed);
  const images = new Float32Array(count * size * size);
  const labels = new Int32Array(count);
  const band = Math.floor(size / classes);
  for (let i = 0; i < count; i++) {
    const label = i % classes;
    labels[i] = label;
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const bright = y >= label * band && y < (label + 1) * band;
        images[(i * size + y) * size + x] = Math.min(1, (bright ? 0.6 : 0) + 0.4 * random());
      }
    }
  }
  return { images, labels, count, shape: [1, size, size], classes: Array.from({ length: classes }, (_, c) => `${c}`) };
}

/** Writes a data set as an IDX pair (pixels scaled to bytes) and returns its `idx:` spec. */
export async function writeIdx(dir: string, name: string, data: InMemoryData): Promise<string> {
  const [, h, w] = data.shape;
  const images = join(dir, `${name}-images.idx`), labels = join(dir, `${name}-labels.idx`);
  const pixels = Uint8Array.from(data.images, (v) => Math.round(v * 255));
  await Deno.writeFile(images, encodeIdx({ shape: [data.count, h, w], data: pixels }));
  await Deno.writeFile(labels, encodeIdx({ shape: [data.count], data: Uint8Array.from(data.labels) }));
  return `idx:${images},${labels}`;
}

/**
 * Trains a one-block convnet on 8x8 bars for 4 epochs (Adam, seeded): the model and the epoch
 * history, whose test accuracy is measured on `test`.
 */
export async function trainBarsConvnet(gpu: Gpu, data: InMemoryData, test: InMemoryData) {
  const { graph, weights } = buildConvnet({ input: [1, 8, 8], classes: data.classes.length, widths: [4] }, 3);
  const manifest = {
    ...manifestFields,
    name: "bars",
    classes: data.classes,
    input: { channels: 1, height: 8, width: 8 },
    normalization: { mean: [0.4], std: [0.3] },
  };
  const settings = {
    epochs: 4,
    batchSize: 16,
    optimizer: "adam" as const,
    lr: 0.01,
    momentum: 0.9,
    weightDecay: 0,
    seed: 2,
    shift: 0,
    patchRate: 0,
  };
  const trained = await train(gpu, { graph, weights, manifest }, data, test, settings, await Deno.makeTempDir());
  const model: ModelFiles = { graph, weights: trained.weights, manifest };
  return { model, history: trained.history };
}

/** A one-block convnet trained for a few epochs on 4-class 8x8 bars (near-perfect accuracy). */
export async function trainedBarsModel(gpu: Gpu): Promise<ModelFiles> {
  return (await trainBarsConvnet(gpu, bars(96, 4, 8, 5), bars(32, 4, 8, 6))).model;
}
