/**
 * Sanity checks for saliency (Adebayo et al., "Sanity Checks for Saliency Maps", NeurIPS 2018):
 * cascading parameter randomisation. Starting from the top layer, each parameterised layer in
 * turn (and every layer above it) has its parameters replaced by random values, and the maps are
 * recomputed. A method whose maps stay rank-correlated with the trained model's maps does not
 * depend on what the model learned.
 *
 * Randomisation: each parameter tensor is redrawn from a Gaussian with the mean and standard
 * deviation of its trained values, seeded per layer (scale-preserving, so activations stay in a
 * sensible range). Batch norm's running statistics are kept; its scale and shift are redrawn.
 * The explained class stays the trained model's prediction throughout. The trained parameters
 * are restored afterwards, also when a step fails.
 *
 * Reading the numbers: rho is over all pixels, ties averaged. Maps multiplied by the input
 * (gradient x input, IG from black) are 0 wherever the input is 0, in every stage, so on images
 * with a black background (MNIST) their rho stays high even when the model is random: that is
 * the input showing through, Adebayo et al.'s point about these methods, not a bug.
 *
 * @example
 * ```ts
 * import type { Executor } from "../model/executor.ts";
 * declare const exec: Executor, images: Float32Array; // 8 images of the model's input shape
 * const report = await cascadingRandomization(exec, images, 8, { methods: ["gradient", "smoothGrad"] });
 * for (const m of report.methods) console.log(m.method, m.stages.map((s) => s.spearman.toFixed(2)));
 * ```
 */
import { mulberry32 } from "../io/prng.ts";
import type { Executor } from "../model/executor.ts";
import { parameterNames } from "../model/graph.ts";
import { spearman } from "./rank.ts";
import { computeSaliency, SALIENCY_METHODS, type SaliencyMethod, type SaliencyOptions } from "./saliency.ts";

export interface SanityOptions extends Omit<SaliencyOptions, "method" | "targets"> {
  /** Methods to check (default all). */
  methods?: readonly SaliencyMethod[];
  /** Seed of the random parameters (default 0). */
  randomSeed?: number;
  /** Keep every stage's maps in the result (for figures; default false). */
  keepMaps?: boolean;
}

/** One stage of the cascade: every layer from the top down to `layer` randomised. */
export interface SanityStage {
  /** The lowest randomised layer (node name); null for the trained model. */
  layer: string | null;
  /** Mean over images of Spearman's rho between this stage's maps and the trained model's. */
  spearman: number;
  perImage: number[];
  maps?: Float32Array;
}

export interface SanityReport {
  /** Randomised layers, top first. */
  layers: string[];
  methods: { method: SaliencyMethod; stages: SanityStage[] }[];
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

/** Mean and per-image Spearman's rho between two batches of maps of `plane` pixels each. */
function rankAgreement(before: Float32Array, after: Float32Array, count: number, plane: number) {
  const perImage = Array.from({ length: count }, (_, b) => {
    const [from, to] = [b * plane, (b + 1) * plane];
    return spearman(before.subarray(from, to), after.subarray(from, to));
  });
  return { spearman: perImage.reduce((a, v) => a + v, 0) / count, perImage };
}

/** Runs the cascade for `count` images (NCHW in the model's input range). */
export async function cascadingRandomization(
  exec: Executor,
  images: Float32Array,
  count: number,
  options: SanityOptions = {},
): Promise<SanityReport> {
  const methods = options.methods ?? SALIENCY_METHODS;
  const layers = randomisedLayers(exec);
  const [, height, width] = exec.graph.input.shape;
  const keep = (maps: Float32Array) => (options.keepMaps ? maps : undefined);
  const explain = (method: SaliencyMethod, targets?: Int32Array) =>
    computeSaliency(exec, images, count, { ...options, method, targets });
  const trained = new Map<string, Float32Array>();
  for (const { params } of layers) for (const p of params) trained.set(p, await exec.gpu.read(exec.params.get(p)!));
  const original = new Map<SaliencyMethod, { maps: Float32Array; targets: Int32Array }>();
  for (const method of methods) original.set(method, await explain(method));
  const report: SanityReport = {
    layers: layers.map((l) => l.layer),
    methods: methods.map((method) => {
      const trainedStage = { layer: null, spearman: 1, perImage: new Array(count).fill(1) };
      return { method, stages: [{ ...trainedStage, maps: keep(original.get(method)!.maps) }] };
    }),
  };
  try {
    for (const [depth, { layer, params }] of layers.entries()) {
      params.forEach((p, i) => {
        const seed = (options.randomSeed ?? 0) * 7919 + depth * 31 + i;
        exec.gpu.write(exec.params.get(p)!, redraw(trained.get(p)!, seed));
      });
      for (const entry of report.methods) {
        const before = original.get(entry.method)!;
        const after = await explain(entry.method, before.targets);
        const agreement = rankAgreement(before.maps, after.maps, count, height * width);
        entry.stages.push({ layer, ...agreement, maps: keep(after.maps) });
      }
    }
  } finally {
    for (const [p, values] of trained) exec.gpu.write(exec.params.get(p)!, values);
  }
  return report;
}
