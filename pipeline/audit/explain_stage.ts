/**
 * The explanation stage, run once the per-batch stages are done: saliency for the mistakes the
 * report shows (the most confident first) and for adversarial examples (a clean image and the
 * attack's image at the smallest swept epsilon that flipped it), written as PNG (or, for
 * photographs, JPEG) assets; and the sanity checks of every saliency method on a seeded sample of
 * the evaluated images (sanity_stage.ts).
 *
 * @example
 * ```ts
 * import type { DataSource } from "../data/types.ts";
 * import { AssetWriter } from "./assets.ts";
 * import type { AuditContext } from "./gpu_batch.ts";
 * import type { AuditResults } from "./run_audit.ts";
 * declare const ctx: AuditContext, source: DataSource, results: AuditResults, settings: ExplainSettings;
 * const explanations = await explainAudit(ctx, source, results, settings, new AssetWriter("audit-report"));
 * console.log(explanations.mistakes.length, explanations.sanity?.methods.length);
 * ```
 */
import type { DataSource } from "../data/types.ts";
import { imageTile } from "../explain/image_grid.ts";
import { computeSaliency, type SaliencyMethod, saliencyMethodsFor, type SaliencyOptions } from "../explain/saliency.ts";
import { DEFAULT_SANITY_STAGES } from "../explain/sanity.ts";
import { attackBatch, type AttackKind, type PgdSettings } from "./attacks.ts";
import type { AssetWriter } from "./assets.ts";
import { confidenceOf, type ImagePrediction, predictBatch } from "./evaluate.ts";
import { gatherImages } from "./gather.ts";
import { type AuditContext, GpuBatch } from "./gpu_batch.ts";
import type { Norm } from "./iterative_attack.ts";
import type { AuditReport } from "../schema/report.ts";
import type { AuditResults } from "./run_audit.ts";
import { sizeOf } from "../io/size_of.ts";
import { sanityCheck, sanitySample, type SanitySettings } from "./sanity_stage.ts";

export type Explanations = NonNullable<AuditReport["explanations"]>;

/** A method's settings beyond its name: Grad-CAM's layer, occlusion's patch. */
type MethodSettings = Pick<SaliencyOptions, "camLayer" | "occlusion">;

export interface ExplainSettings {
  method: SaliencyMethod;
  /** Its layer (Grad-CAM) or patch (occlusion). */
  saliencyOptions?: MethodSettings;
  /** Mistakes and adversarial examples shown, at most. */
  shown: number;
  /** Images of the sanity check (0 skips it), a seeded sample of the evaluated ones. */
  sanityImages: number;
  /** The sanity check's stages per test and its random-label model (pipeline/audit/sanity_stage.ts). */
  sanity?: Omit<SanitySettings, "seed">;
  attack: AttackKind;
  pgd: PgdSettings;
  apgd: { steps: number; restarts: number };
  /** The attack's threat model (default "linf"). */
  norm?: Norm;
  seed: number;
}

/** Explains what the report shows; writes the images through `assets`. */
export async function explainAudit(
  ctx: AuditContext,
  source: DataSource,
  results: AuditResults,
  settings: ExplainSettings,
  assets: AssetWriter,
): Promise<Explanations> {
  const mistakes = [...results.mistakes.items]
    .sort((a, b) => b.confidence - a.confidence || a.index - b.index)
    .slice(0, settings.shown);
  const flipped = results.flipped.slice(0, settings.shown);
  const evaluated = results.predictions.map((p) => p.index);
  const sanityIndices = sanitySample(evaluated, settings.sanityImages, settings.seed);
  const indices = [...mistakes.map((m) => m.index), ...flipped.map((f) => f.index), ...sanityIndices];
  const images = await gatherImages(source, indices, ctx.range);
  const per = sizeOf(source.shape);
  const slice = (from: number, count: number) => images.slice(from * per, (from + count) * per);
  const shape = source.shape;
  const overlays = new Overlays(ctx, settings.method, shape, assets, settings.saliencyOptions);
  const byIndex = new Map(results.predictions.map((p) => [p.index, p]));
  const shown = await explainExamples(
    ctx,
    overlays,
    {
      mistakes,
      mistakeImages: slice(0, mistakes.length),
      flipped,
      cleanImages: slice(mistakes.length, flipped.length),
    },
    byIndex,
    settings,
  );

  let sanity: Explanations["sanity"] = null;
  if (sanityIndices.length > 0) {
    const sanityImages = slice(mistakes.length + flipped.length, sanityIndices.length);
    const sanitySettings = {
      stages: DEFAULT_SANITY_STAGES,
      methods: saliencyMethodsFor(ctx.exec),
      ...settings.sanity,
      seed: settings.seed,
    };
    sanity = await sanityCheck(ctx, sanityImages, sanityIndices, sanitySettings, assets);
  }
  return { method: settings.method, mistakes: shown.mistakes, adversarial: shown.adversarial, sanity };
}

/** Examples to explain: mistakes and flipped images, with their clean images gathered (in that order). */
export interface ExampleImages {
  mistakes: readonly { index: number; label: number; predicted: number; confidence: number }[];
  mistakeImages: Float32Array;
  flipped: AuditResults["flipped"];
  cleanImages: Float32Array;
}

/**
 * Writes the pictures (image and saliency overlay) of `examples`: each mistake as is, and each
 * flipped image attacked again at its epsilon (clean and adversarial; one the attack does not flip
 * again is left out).
 */
export async function explainExamples(
  ctx: AuditContext,
  overlays: Overlays,
  examples: ExampleImages,
  predictions: ReadonlyMap<number, ImagePrediction>,
  settings: ExplainSettings,
): Promise<Pick<Explanations, "mistakes" | "adversarial">> {
  const { mistakes, mistakeImages } = examples;
  const mistakeMaps = await overlays.maps(mistakeImages, mistakes.length);
  const shownMistakes = [];
  for (const [i, m] of mistakes.entries()) {
    shownMistakes.push({
      index: m.index,
      label: m.label,
      predicted: m.predicted,
      confidence: m.confidence,
      ...(await overlays.write(`mistake-${m.index}`, mistakeImages, mistakeMaps, i)),
    });
  }
  const adversarial = await adversarialExamples(ctx, examples.cleanImages, examples.flipped, predictions, settings);
  const shownAdversarial = [];
  const cleanMaps = await overlays.maps(adversarial.clean, adversarial.items.length);
  const adversarialMaps = await overlays.maps(adversarial.images, adversarial.items.length);
  for (const [i, item] of adversarial.items.entries()) {
    shownAdversarial.push({
      index: item.index,
      label: item.label,
      attack: settings.attack,
      epsilon: item.epsilon,
      clean: {
        predicted: item.clean.predicted,
        confidence: item.clean.confidence,
        ...(await overlays.write(`clean-${item.index}`, adversarial.clean, cleanMaps, i)),
      },
      adversarial: {
        predicted: item.adversarial.predicted,
        confidence: item.adversarial.confidence,
        ...(await overlays.write(`adversarial-${item.index}`, adversarial.images, adversarialMaps, i)),
      },
    });
  }
  return { mistakes: shownMistakes, adversarial: shownAdversarial };
}

interface Answer {
  predicted: number;
  confidence: number;
}

/**
 * Attacks the clean images again at the epsilon that flipped them in the sweep, keeping the
 * images (the sweep keeps predictions only). The random starts are the sweep's (drawn per image),
 * so the attack finds the sweep's flip again; an image it does not flip (one an attack of
 * AutoAttack's ensemble other than APGD-CE flipped) is left out. The clean answers are the
 * evaluation's, not recomputed.
 */
async function adversarialExamples(
  ctx: AuditContext,
  clean: Float32Array,
  flipped: AuditResults["flipped"],
  predictions: ReadonlyMap<number, ImagePrediction>,
  settings: ExplainSettings,
): Promise<{
  items: (AuditResults["flipped"][number] & { clean: Answer; adversarial: Answer })[];
  clean: Float32Array;
  images: Float32Array;
}> {
  const count = flipped.length;
  if (count === 0) return { items: [], clean, images: new Float32Array(0) };
  const shape = ctx.exec.graph.input.shape as [number, number, number];
  const host = {
    indices: flipped.map((f) => f.index),
    images: clean,
    labels: Int32Array.from(flipped, (f) => f.label),
    count,
    shape,
  };
  using batch = GpuBatch.upload(ctx, host);
  const attack = await attackBatch(ctx, batch, flipped.map((f) => f.epsilon), {
    kind: settings.attack,
    ...settings.pgd,
    apgdSteps: settings.apgd.steps,
    restarts: settings.apgd.restarts,
    norm: settings.norm,
    readImages: true,
  });
  using adversarialBatch = GpuBatch.upload(ctx, { ...host, images: attack.images! });
  const adversarialAnswers = await predictBatch(ctx, adversarialBatch);
  const answer = (p: ImagePrediction) => ({ predicted: p.top[0], confidence: confidenceOf(p) });
  const kept = flipped.flatMap((f, i) => (adversarialAnswers[i].top[0] !== f.label ? [i] : []));
  const per = clean.length / count;
  const pick = (from: Float32Array) => {
    const out = new Float32Array(kept.length * per);
    kept.forEach((i, k) => out.set(from.subarray(i * per, (i + 1) * per), k * per));
    return out;
  };
  return {
    items: kept.map((i) => ({
      ...flipped[i],
      clean: answer(predictions.get(flipped[i].index)!),
      adversarial: answer(adversarialAnswers[i]),
    })),
    clean: pick(clean),
    images: pick(attack.images!),
  };
}

/** Saliency maps of the predicted class and their image/overlay assets. */
export class Overlays {
  constructor(
    readonly ctx: AuditContext,
    readonly method: SaliencyMethod,
    readonly shape: [number, number, number],
    readonly assets: AssetWriter,
    readonly settings: MethodSettings = {},
  ) {}

  async maps(images: Float32Array, count: number): Promise<Float32Array> {
    if (count === 0) return new Float32Array(0);
    const result = await computeSaliency(this.ctx.exec, images, count, {
      ...this.settings,
      method: this.method,
      inputRange: this.ctx.range,
    });
    return result.maps;
  }

  /** Writes image `i` as `name` and its saliency map, an overlay drawn over it, as `name-saliency`. */
  async write(name: string, images: Float32Array, maps: Float32Array, i: number) {
    const [, height, width] = this.shape;
    const per = this.shape[0] * height * width, plane = height * width;
    const pixels = images.subarray(i * per, (i + 1) * per);
    return {
      image: await this.assets.tile(name, imageTile(pixels, this.shape, this.ctx.range)),
      saliency: await this.assets.overlay(`${name}-saliency`, maps.subarray(i * plane, (i + 1) * plane), height, width),
    };
  }
}
