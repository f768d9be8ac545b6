/**
 * Sanity checks for saliency (Adebayo et al., "Sanity Checks for Saliency Maps", NeurIPS 2018):
 * model parameter randomisation, in its two forms.
 *
 * - **Cascading**: starting from the top layer, each parameterised layer in turn (and every layer
 *   above it) has its parameters replaced by random values, and the maps are recomputed.
 * - **Independent**: one layer at a time is randomised, every other layer keeps its trained values.
 *
 * A method whose maps stay similar to the trained model's does not depend on what the model
 * learned. Similarity is measured by the four measures of map_similarity.ts per image.
 *
 * Randomisation: each parameter tensor is redrawn from a Gaussian with the mean and standard
 * deviation of its trained values, seeded per layer (scale-preserving, so activations stay in a
 * sensible range); a layer gets the same random values in both tests. Batch norm's running
 * statistics are kept; its scale and shift are redrawn. The explained class stays the trained
 * model's prediction throughout. The trained parameters are restored afterwards, also when a step
 * fails.
 *
 * At ImageNet size (a ResNet-50 has 55 parameterised layers) each test has at most `maxStages`
 * stages (default 16): the cascade then randomises the layers in that many steps of about
 * L / maxStages layers each (stage k: the top round(k L / maxStages); the last stage is every
 * layer), and the independent test randomises that many layers spread evenly from the top layer to
 * the bottom one, each alone.
 *
 * Reading the numbers: maps multiplied by the input (gradient x input, IG from black) are 0
 * wherever the input is 0, in every stage, so on images with a black background (MNIST) their
 * similarity stays high even when the model is random: that is the input showing through, Adebayo
 * et al.'s point about these methods, not a bug.
 *
 * @example
 * ```ts
 * import type { Executor } from "../model/executor.ts";
 * declare const exec: Executor, images: Float32Array; // 8 images of the model's input shape
 * const report = await cascadingRandomization(exec, images, 8, { methods: ["gradient", "smoothGrad"] });
 * for (const m of report.methods) console.log(m.method, m.stages.map((s) => s.spearman.toFixed(2)));
 * for (const m of report.independent) console.log(m.method, m.stages.map((s) => s.similarity[0].ssim));
 * ```
 */
import { mulberry32 } from "../io/prng.ts";
import type { Executor } from "../model/executor.ts";
import { parameterNames } from "../model/graph.ts";
import { mapSimilarity, type Similarity } from "./map_similarity.ts";
import {
  computeSaliency,
  SALIENCY_METHODS,
  type SaliencyMethod,
  type SaliencyOptions,
  type SaliencyResult,
} from "./saliency.ts";

export interface SanityOptions extends Omit<SaliencyOptions, "method" | "targets" | "reduce"> {
  /** Methods to check (default all). */
  methods?: readonly SaliencyMethod[];
  /** Seed of the random parameters (default 0). */
  randomSeed?: number;
  /** Keep every stage's maps in the result (for figures; default false). */
  keepMaps?: boolean;
  /** Most stages of each test (default DEFAULT_SANITY_STAGES). */
  maxStages?: number;
}

/** Stages per test, at most, unless asked otherwise: every layer of the shipped convnets. */
export const DEFAULT_SANITY_STAGES = 16;

/** One stage: the maps of a model with some layers randomised, against the trained model's. */
export interface SanityStage {
  /** Cascade: the lowest randomised layer; independent: the one randomised layer; null for the trained model. */
  layer: string | null;
  /** Mean over images of the rank correlation of the absolute maps with the trained model's. */
  spearman: number;
  /** That rank correlation per image. */
  perImage: number[];
  maps?: Float32Array;
}

/** A stage of either test with every similarity measure per image. */
export interface RandomisationStage extends SanityStage {
  similarity: Similarity[];
}

/** Each method's stages, for one test. */
export type MethodStages = { method: SaliencyMethod; stages: RandomisationStage[] }[];

export interface SanityReport {
  /** Randomised layers, top first. */
  layers: string[];
  /** The cascade, its first stage the trained model. */
  methods: { method: SaliencyMethod; stages: SanityStage[] }[];
}

/** Both parameter randomisation tests and the trained model's maps. */
export interface SanityChecks extends SanityReport {
  methods: MethodStages;
  /** One stage per layer randomised alone (no trained-model stage). */
  independent: MethodStages;
  /** The trained model's maps per method (channel sums: IG's pixels add up to its attributions). */
  original: Map<SaliencyMethod, SaliencyResult>;
}

/** Parameter names the cascade redraws, per layer, top layer first. */
export function randomisedLayers(exec: Executor): { layer: string; params: string[] }[] {
  return exec.graph.nodes
    .map((node) => ({ layer: node.name, params: parameterNames(node).filter((p) => !isRunningStatistic(node, p)) }))
    .filter((l) => l.params.length > 0)
    .reverse();
}

function isRunningStatistic(node: Executor["graph"]["nodes"][number], param: string): boolean {
  return node.op === "batch_norm" && (param === node.mean || param === node.variance);
}

/** Gaussian values with the mean and standard deviation of `trained`. */
function redraw(trained: Float32Array, seed: number): Float32Array {
  const n = trained.length;
  const mean = trained.reduce((a, v) => a + v, 0) / n;
  const std = Math.sqrt(trained.reduce((a, v) => a + (v - mean) ** 2, 0) / n);
  const random = mulberry32(seed);
  return Float32Array.from({ length: n }, () => {
    const u = 1 - random(); // (0, 1]: the log stays finite
    return mean + std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
  });
}

/**
 * Which layers (indices into randomisedLayers, top first) each stage randomises: the cascade's
 * growing prefixes and the independent test's single layers, at most `maxStages` of each.
 */
export function sanityStages(layerCount: number, maxStages: number): { cascading: number[][]; independent: number[] } {
  const k = Math.min(layerCount, maxStages);
  const depths = [...new Set(Array.from({ length: k }, (_, i) => Math.round(((i + 1) * layerCount) / k)))];
  const single = k <= 1
    ? [0].slice(0, layerCount)
    : [...new Set(Array.from({ length: k }, (_, i) => Math.round((i * (layerCount - 1)) / (k - 1))))];
  return {
    cascading: depths.map((d) => Array.from({ length: d }, (_, i) => i)),
    independent: single,
  };
}

/** Runs both tests for `count` images (NCHW in the model's input range). */
export async function cascadingRandomization(
  exec: Executor,
  images: Float32Array,
  count: number,
  options: SanityOptions = {},
): Promise<SanityChecks> {
  const methods = options.methods ?? SALIENCY_METHODS;
  const layers = randomisedLayers(exec);
  const [, height, width] = exec.graph.input.shape;
  const keep = (maps: Float32Array) => (options.keepMaps ? maps : undefined);
  const explain = (method: SaliencyMethod, targets?: Int32Array) =>
    computeSaliency(exec, images, count, { ...options, method, targets, reduce: "sum" });
  const trained = new Map<string, Float32Array>();
  for (const { params } of layers) for (const p of params) trained.set(p, await exec.gpu.read(exec.params.get(p)!));
  const random = new Map<string, Float32Array>();
  const randomValues = (depth: number, p: string, i: number) => {
    if (!random.has(p)) random.set(p, redraw(trained.get(p)!, (options.randomSeed ?? 0) * 7919 + depth * 31 + i));
    return random.get(p)!;
  };
  const original = new Map<SaliencyMethod, SaliencyResult>();
  for (const method of methods) original.set(method, await explain(method));
  const identical = new Array(count).fill(1);
  const result: SanityChecks = {
    layers: layers.map((l) => l.layer),
    methods: methods.map((method) => ({
      method,
      stages: [{
        layer: null,
        spearman: 1,
        perImage: identical,
        similarity: identical.map(() => ({ spearman: 1, absSpearman: 1, ssim: 1, hog: 1 })),
        maps: keep(original.get(method)!.maps),
      }],
    })),
    independent: methods.map((method) => ({ method, stages: [] })),
    original,
  };
  // The cascade's first stage (the top layer alone) is also the independent test's first: run once.
  const done = new Map<string, Map<SaliencyMethod, RandomisationStage>>();
  /** Randomises exactly the layers `randomised` (the others trained) and adds a stage to `into`. */
  const stage = async (randomised: readonly number[], layer: string, into: MethodStages) => {
    const key = randomised.join();
    if (done.has(key)) {
      for (const entry of into) entry.stages.push({ ...done.get(key)!.get(entry.method)!, layer });
      return;
    }
    done.set(key, new Map());
    const chosen = new Set(randomised);
    layers.forEach(({ params }, depth) =>
      params.forEach((p, i) =>
        exec.gpu.write(exec.params.get(p)!, chosen.has(depth) ? randomValues(depth, p, i) : trained.get(p)!)
      )
    );
    for (const entry of into) {
      const before = original.get(entry.method)!;
      const after = await explain(entry.method, before.targets);
      const similarity = mapSimilarity(before.maps, after.maps, count, height, width);
      const perImage = similarity.map((s) => s.absSpearman);
      const spearman = perImage.reduce((a, v) => a + v, 0) / count;
      entry.stages.push({ layer, spearman, perImage, similarity, maps: keep(after.maps) });
      done.get(key)!.set(entry.method, entry.stages[entry.stages.length - 1]);
    }
  };
  const plan = sanityStages(layers.length, options.maxStages ?? DEFAULT_SANITY_STAGES);
  try {
    for (const prefix of plan.cascading) await stage(prefix, layers[prefix.length - 1].layer, result.methods);
    for (const depth of plan.independent) await stage([depth], layers[depth].layer, result.independent);
  } finally {
    for (const [p, values] of trained) exec.gpu.write(exec.params.get(p)!, values);
  }
  return result;
}
