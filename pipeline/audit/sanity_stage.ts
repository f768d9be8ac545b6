/**
 * The audit's sanity checks (Adebayo et al. 2018) of the compared saliency methods on a seeded sample of
 * the evaluated images: cascading and independent parameter randomisation, the data randomisation
 * test against a random-label model when one is given, each method's verdict per test with
 * bootstrap intervals (pipeline/explain/sanity_verdict.ts), Integrated Gradients' completeness gap
 * per image, and the figure of the first image.
 *
 * @example
 * ```ts
 * import type { AssetWriter } from "./assets.ts";
 * import type { AuditContext } from "./gpu_batch.ts";
 * declare const ctx: AuditContext, images: Float32Array, assets: AssetWriter;
 * const sanity = await sanityCheck(ctx, images, [3, 17], { stages: 16, seed: 1, methods: ["gradient"] }, assets);
 * console.log(sanity.verdict?.verdicts.filter((v) => !v.passes).map((v) => `${v.method} ${v.test}`));
 * ```
 */
import { seededPermutation } from "../io/prng.ts";
import { InputError } from "../io/input_error.ts";
import { completenessGaps } from "../explain/completeness.ts";
import { type DataRandomization, dataRandomization } from "../explain/data_randomisation.ts";
import { meanSimilarity } from "../explain/map_similarity.ts";
import { computeSaliency, type SaliencyMethod } from "../explain/saliency.ts";
import { cascadingRandomization } from "../explain/sanity.ts";
import { sanityFigure } from "../explain/sanity_figure.ts";
import { SANITY_THRESHOLD, sanityVerdicts } from "../explain/sanity_verdict.ts";
import { Executor } from "../model/executor.ts";
import { loadModel } from "../model/load_model.ts";
import type { AuditReport } from "../schema/report.ts";
import type { AssetWriter } from "./assets.ts";
import type { AuditContext } from "./gpu_batch.ts";

type Sanity = NonNullable<NonNullable<AuditReport["explanations"]>["sanity"]>;

export interface SanitySettings {
  /** Most stages per randomisation test (pipeline/explain/sanity.ts). */
  stages: number;
  /** The random-label model of the data test (a folder or .onnx file); omitted: no data test. */
  randomLabelModel?: string;
  seed: number;
  /** The methods checked. */
  methods: readonly SaliencyMethod[];
}

/**
 * IG's steps in the randomisation tests, half the method's default 64 so the independent test
 * costs the default audit little: on the first 32 test images of the shipped models, 32-step maps
 * against 64-step ones have |rank correlation| 0.9999 / 0.9998 and SSIM 0.9997 / 0.9994 (digits /
 * fashion), far above any randomised stage. The completeness gaps are IG's at its default steps.
 */
const SANITY_IG_STEPS = 32;

/** Bootstrap resamples and coverage of the verdicts' intervals. */
const RESAMPLES = 2000;
const LEVEL = 0.95;

/** `count` data indices drawn from the evaluated ones by `seed`, in data order. */
export function sanitySample(indices: readonly number[], count: number, seed: number): number[] {
  const order = seededPermutation(indices.length, seed);
  return Array.from(order.subarray(0, Math.min(count, indices.length)), (i) => indices[i]).sort((a, b) => a - b);
}

/** Runs the checks on `images` (NCHW, in the model's range), the data indices `indices`. */
export async function sanityCheck(
  ctx: AuditContext,
  images: Float32Array,
  indices: readonly number[],
  settings: SanitySettings,
  assets: AssetWriter,
): Promise<Sanity> {
  const count = indices.length;
  const shape = ctx.exec.graph.input.shape;
  const options = { inputRange: ctx.range };
  const checks = await cascadingRandomization(ctx.exec, images, count, {
    ...options,
    methods: settings.methods,
    randomSeed: settings.seed,
    keepMaps: true,
    maxStages: settings.stages,
    steps: SANITY_IG_STEPS,
  });
  const random = settings.randomLabelModel ? await randomLabelRun(ctx, settings.randomLabelModel) : null;
  let data: DataRandomization | null = null;
  if (random) {
    using exec = random.exec;
    const steps = SANITY_IG_STEPS;
    data = await dataRandomization(exec, images, count, checks.original, { ...options, steps, keepMaps: true });
  }
  const verdicts = sanityVerdicts(checks, data, { seed: settings.seed, resamples: RESAMPLES, level: LEVEL });
  const ig = await computeSaliency(ctx.exec, images, count, {
    ...options,
    method: "integratedGradients",
    reduce: "sum",
  });
  const figure = await assets.picture("sanity", sanityFigure({ ...checks, data }, images, shape, { range: ctx.range }));
  return {
    images: count,
    layers: checks.layers,
    methods: checks.methods.map(({ method, stages }) => ({
      method,
      stages: stages.map((s) => ({ layer: s.layer, spearman: s.spearman })),
    })),
    figure,
    indices: [...indices],
    similarity: checks.methods.map(({ method, stages }) => ({
      method,
      cascading: stages.slice(1).map((s) => ({ layer: s.layer!, mean: meanSimilarity(s.similarity) })),
      independent: checks.independent.find((m) => m.method === method)!.stages.map((s) => ({
        layer: s.layer!,
        mean: meanSimilarity(s.similarity),
      })),
      data: data ? meanSimilarity(data.find((m) => m.method === method)!.similarity) : null,
    })),
    randomLabelModel: random ? random.about : null,
    verdict: { threshold: SANITY_THRESHOLD, level: LEVEL, resamples: RESAMPLES, verdicts },
    completeness: completenessGaps(ig).map((gap, i) => ({ index: indices[i], ...gap })),
  };
}

/**
 * Loads the random-label model and checks it takes the audited model's images and has its classes
 * (the audit calls it before the batches too, so a wrong model fails at once, not at the end).
 */
export async function loadRandomLabelModel(path: string, input: readonly number[], classes: number) {
  const { files } = await loadModel(path);
  const takes = files.graph.input.shape;
  if (takes.join() !== input.join()) {
    throw new InputError(`--sanity-random-model ${path}: takes images [${takes}], the audited model [${input}]`);
  }
  if (files.manifest.classes.length !== classes) {
    throw new InputError(
      `--sanity-random-model ${path}: has ${files.manifest.classes.length} classes, the audited model ${classes}`,
    );
  }
  return files;
}

/** The random-label model on the audit's GPU, and what the report says of it. */
async function randomLabelRun(ctx: AuditContext, path: string) {
  const files = await loadRandomLabelModel(path, ctx.exec.graph.input.shape, ctx.exec.outputShape(1)[1]);
  const accuracy = files.manifest.provenance?.testAccuracy;
  return {
    exec: await Executor.create(ctx.exec.gpu, files),
    about: { path, name: files.manifest.name, accuracy: typeof accuracy === "number" ? accuracy : null },
  };
}
