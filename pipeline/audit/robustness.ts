/**
 * The robustness stage: per batch, FGSM at every epsilon of a sweep (raw, and with flips carried
 * forward), the main attack at every epsilon (one attack, or AutoAttack's ensemble), the trust
 * probe (trust_probe.ts), and each image's epsilon that flips it (an upper bound, by bisection);
 * over the data set, the accuracy-versus-epsilon curves, where flips land in the class hierarchy,
 * and trust warnings that name their images.
 *
 * A flip, for the curves as for the flipping epsilon, is a correctly classified image whose
 * adversarial prediction differs from its label. The sweep goes up the epsilons and attacks only
 * the images still classified correctly (compaction): an adversarial image found at a smaller
 * radius is also inside every larger ball (the balls nest), so it stands for the larger radius too
 * (it keeps the class it was flipped to). Accuracy at epsilon is thus the share of images no attack
 * of radius <= epsilon fooled, and the curve never rises. Within AutoAttack's ensemble each attack
 * likewise attacks only the images the attacks before it left robust, and a curve is kept after
 * each. FGSM reuses one clean gradient for the whole batch, so it attacks every image at every
 * epsilon: its raw per-epsilon result is kept for the trust checks (a raw FGSM curve that rises
 * with epsilon is a symptom of masked gradients) and carried forward for its curve. Epsilon 0 is
 * not attacked: a ball of radius 0 holds only the clean image. Every attack's random choices are
 * drawn per image (by the seed and its data index), so an image's outcome does not depend on which
 * images shared its batch: compaction changes no figure, and a shard computes what a whole run does.
 *
 * @example
 * ```ts
 * import type { Hierarchy } from "../model/hierarchy.ts";
 * import type { AuditContext, GpuBatch } from "./gpu_batch.ts";
 * declare const ctx: AuditContext, batch: GpuBatch, clean: Uint32Array; // clean: the batch's clean answers
 * declare const settings: RobustnessSettings, hierarchy: Hierarchy;
 * const robustness = new RobustnessAccumulator(settings, hierarchy, ctx.range[1] - ctx.range[0]);
 * robustness.add(await robustnessBatch(ctx, batch, clean, settings));
 * const { curve, warnings } = robustness.finish();
 * ```
 */
import { mulberry32 } from "../io/prng.ts";
import type { Hierarchy } from "../model/hierarchy.ts";
import { attackBatch, type AttackKind, type AttackOptions, type PgdSettings } from "./attacks.ts";
import { type AuditContext, GpuBatch } from "./gpu_batch.ts";
import { deepFool, type DeepFoolSettings } from "./deepfool.ts";
import { FAB_DEFAULTS, type FabMemo, fabTargeted } from "./fab.ts";
import { APGD_DEFAULTS, iterativeAttack, type Norm } from "./iterative_attack.ts";
import { bisectFlipEpsilons, flipBrackets, lineSearchFlipEpsilons } from "./min_epsilon.ts";
import { mistakeSeverity } from "./severity.ts";
import { SQUARE_DEFAULTS, squareAttack } from "./square.ts";
import { type CurveStats, type TrustFlag, trustFlags, trustWarnings } from "./trust_checks.ts";
import { probeBatch } from "./trust_probe.ts";

/** The default L-infinity sweep for inputs in [0, 1] (scaled by the range width for other ranges). */
export const DEFAULT_EPSILONS: readonly number[] = Object.freeze([0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3]);

/**
 * The default L2 sweep for inputs in [0, 1] (scaled by the range width): up to 3, around the
 * standard radii (0.5 on CIFAR-10, 1.5 to 2 on MNIST), whatever the image size.
 */
export const DEFAULT_L2_EPSILONS: readonly number[] = Object.freeze([0, 0.1, 0.25, 0.5, 1, 2, 3]);

/** The main curve's attack: one attack, or AutoAttack's standard ensemble. */
export type MainAttack = AttackKind | "autoattack";

/** AutoAttack's attacks, in order; each runs on the images the ones before left robust. */
export const AUTOATTACK_STAGES = Object.freeze(["apgd-ce", "apgd-t", "fab-t", "square"] as const);

/** The curves a batch can hold: the attacks, AutoAttack's stages, and the ensemble itself. */
export const CURVE_NAMES = Object.freeze(
  ["fgsm", "pgd", "apgd-ce", "apgd-dlr", "autoattack", "apgd-t", "square", "fab-t"] as const,
);
export type CurveName = (typeof CURVE_NAMES)[number];

/** A targeted main attack's target: each image's least likely class, a seeded random other class, or one class. */
export type TargetChoice = "least-likely" | "random" | number;

/** Target classes of AutoAttack's APGD-T: the clean image's 2nd to 10th highest logits. */
export const APGD_T_TARGETS = 9;

export interface RobustnessSettings {
  /** Ascending, each in [0, range width]. */
  epsilons: number[];
  /** The attack of the main curve and of the flipping epsilons (AutoAttack's: APGD-CE). FGSM is always swept too. */
  attack: MainAttack;
  /** The threat model of every attack (default "linf"; "l2" not with AutoAttack: no L2 Square). */
  norm?: Norm;
  pgd: PgdSettings;
  /** APGD's iterations and restarts (default: AutoAttack's 100 and 1). */
  apgd?: { steps: number; restarts: number };
  /** Square's query budget in AutoAttack (default 5,000). */
  square?: { queries: number };
  /** FAB-T's steps per target class in AutoAttack (default 100); null: the ensemble without FAB-T, for comparisons. */
  fab?: { steps: number } | null;
  /**
   * A targeted main attack (not with AutoAttack): a flip is then reaching the target, and the
   * curve the share of images the attack did not drive to their target. Default: untargeted.
   */
  target?: TargetChoice | null;
  /** Bisection resolution of the flipping epsilon (1/256 of the range width); 0 skips it. */
  resolution: number;
  /**
   * How the flipping epsilon is bisected: "line" (the default) along the segment from the clean
   * image to the sweep's adversarial point, a forward pass per step; "attack", the main attack
   * again at every midpoint (tighter, and as costly as the sweep).
   */
  minEpsilonSearch?: "line" | "attack";
  /** DeepFool's minimal-norm estimate, in the settings' norm (absent or null: not run). */
  deepFool?: Omit<DeepFoolSettings, "norm"> | null;
  /** Superclass depth for "a flip to the same superclass". */
  depth: number;
}

/** One batch's attack outcomes. */
export interface BatchRobustness {
  indices: number[];
  labels: number[];
  /** Clean top-1 predictions. */
  clean: number[];
  /** Images whose input gradient is zero everywhere. */
  zeroGradients: number;
  /** Adversarial predictions per epsilon of the sweep, per curve (flips carried forward). */
  sweeps: Partial<Record<CurveName, Uint32Array[]>>;
  /** FGSM's own prediction at each epsilon, flips not carried forward (absent in older chunks). */
  fgsmRaw?: Uint32Array[];
  /** Each image's epsilon that flips it, an upper bound (null: misclassified, or not flipped by the sweep). */
  minEpsilons: (number | null)[];
  /** DeepFool's estimate per image (null: misclassified or not flipped); absent when not run. */
  deepFool?: (number | null)[];
  /** The probe's flags, as data indices (absent in older chunks). */
  flags?: { nearZeroGradient: number[]; unstableLogits: number[]; probabilityOutputs: number[] };
}

/** The attack the flipping epsilons are bisected with: the main one (APGD-CE for AutoAttack). */
export function bisectionAttack(attack: MainAttack): AttackKind {
  return attack === "autoattack" ? "apgd-ce" : attack;
}

/** One attack of a sweep: the predictions and points for the images at `positions` of the batch, at one epsilon. */
type StageAttack = (
  sub: GpuBatch,
  positions: number[],
  epsilon: number,
) => Promise<{ predictions: ArrayLike<number>; images: Float32Array }>;

/**
 * Attacks one batch at every epsilon (FGSM, and the main attack) and bisects the flipping
 * epsilons. `clean` are the batch's clean top-1 predictions. `onStage` is told which attack is
 * running, for progress displays and the stage timings.
 */
export async function robustnessBatch(
  ctx: AuditContext,
  batch: GpuBatch,
  clean: ArrayLike<number>,
  settings: RobustnessSettings,
  onStage?: (stage: string) => void,
): Promise<BatchRobustness> {
  const cleanPredictions = Uint32Array.from(clean);
  const labels = batch.host.labels;
  const indices = batch.host.indices;
  onStage?.("fgsm");
  using probe = await probeBatch(ctx, batch);
  const fgsmRaw: Uint32Array[] = [];
  for (const epsilon of settings.epsilons) {
    fgsmRaw.push(
      epsilon > 0
        ? (await attackBatch(ctx, batch, epsilon, { kind: "fgsm", gradient: probe.gradient, norm: settings.norm }))
          .predictions
        : cleanPredictions,
    );
  }
  const sweeps: BatchRobustness["sweeps"] = { fgsm: carryFlips(fgsmRaw, labels) };
  const targets = settings.target == null
    ? null
    : chooseTargets(settings.target, probe.logits, probe.classes, labels, indices, ctx.seed);
  const stages = mainStages(ctx, settings, probe.logits, probe.classes, targets);
  const { curves: stageCurves, adversarial } = await compactedSweep(
    ctx,
    batch,
    cleanPredictions,
    settings.epsilons,
    stages,
    onStage,
  );
  Object.assign(sweeps, stageCurves);
  if (settings.attack === "autoattack") sweeps.autoattack = stageCurves[stages.at(-1)!.name];
  let minEpsilons: (number | null)[] = Array.from(clean, () => null);
  if (settings.resolution > 0) {
    onStage?.("min-epsilon");
    const brackets = flipBrackets(cleanPredictions, labels, sweeps[settings.attack]!, settings.epsilons);
    minEpsilons = settings.minEpsilonSearch === "attack"
      ? await bisectFlipEpsilons(ctx, batch, cleanPredictions, brackets, settings.resolution, {
        ...attackOptions(settings, bisectionAttack(settings.attack)),
        ...(targets ? { targets, goal: "target" as const } : {}),
      })
      : await lineSearchFlipEpsilons(
        ctx,
        batch,
        brackets,
        adversarial,
        settings.resolution,
        (p, i) => targets ? p === targets[i] : p !== labels[i],
      );
  }
  let deepFoolEstimates: (number | null)[] | undefined;
  if (settings.deepFool) {
    onStage?.("deepfool");
    // Only the correctly classified images: DeepFool's label is the clean top-1.
    const correct = Array.from(labels, (l, i) => (cleanPredictions[i] === l ? [i] : [])).flat();
    deepFoolEstimates = Array.from(clean, () => null);
    if (correct.length > 0) {
      using sub = correct.length === batch.count ? null : GpuBatch.upload(ctx, batch.host, correct);
      const norm = settings.norm ?? "linf";
      const { estimates } = await deepFool(ctx, sub ?? batch, { ...settings.deepFool, norm });
      correct.forEach((i, k) => deepFoolEstimates![i] = estimates[k]);
    }
  }
  const named = (positions: number[]) => positions.map((p) => indices[p]);
  return {
    indices,
    labels: Array.from(labels),
    clean: Array.from(cleanPredictions),
    zeroGradients: probe.zeroGradient.length,
    sweeps,
    fgsmRaw,
    minEpsilons,
    ...(deepFoolEstimates ? { deepFool: deepFoolEstimates } : {}),
    flags: {
      nearZeroGradient: named(probe.nearZeroGradient),
      unstableLogits: named(probe.unstableLogits),
      probabilityOutputs: named(probe.probabilityOutputs),
    },
  };
}

/** The options of a single attack under the settings. */
function attackOptions(settings: RobustnessSettings, kind: AttackKind): AttackOptions {
  const apgd = settings.apgd ?? { steps: APGD_DEFAULTS.steps, restarts: APGD_DEFAULTS.restarts };
  return { kind, ...settings.pgd, apgdSteps: apgd.steps, restarts: apgd.restarts, norm: settings.norm ?? "linf" };
}

/** The attacks of the main curve, in order: one, or AutoAttack's three. */
function mainStages(
  ctx: AuditContext,
  settings: RobustnessSettings,
  cleanLogits: Float32Array,
  classes: number,
  targets: number[] | null,
): { name: CurveName; run: StageAttack }[] {
  const single = (kind: AttackKind): StageAttack => async (sub, positions, epsilon) => {
    const options = { ...attackOptions(settings, kind), readImages: true };
    if (!targets) {
      const { predictions, images } = await attackBatch(ctx, sub, epsilon, options);
      return { predictions, images: images! };
    }
    // Targeted: only reaching the target counts; an image the attack did not drive there stays unflipped.
    const own = positions.map((p) => targets[p]);
    const result = await attackBatch(ctx, sub, epsilon, { ...options, targets: own, goal: "target" });
    const predictions = Array.from(result.predictions, (p, k) => (p === own[k] ? p : sub.host.labels[k]));
    return { predictions, images: result.images! };
  };
  if (settings.attack !== "autoattack") return [{ name: settings.attack, run: single(settings.attack) }];
  const apgd = attackOptions(settings, "apgd-dlr");
  const targeted: StageAttack = async (sub, positions, epsilon) => {
    // Each target class in turn, on the images still robust (the DLR-targeted loss needs 4 classes).
    const found = Array.from(sub.host.labels);
    const images = Float32Array.from(sub.host.images);
    const per = images.length / sub.count;
    const ranked = positions.map((p) => rankedClasses(cleanLogits.subarray(p * classes, (p + 1) * classes)));
    const targets = classes >= 4 ? Math.min(APGD_T_TARGETS, classes - 1) : 0;
    for (let r = 1; r <= targets; r++) {
      const open = found.flatMap((f, k) => (f === sub.host.labels[k] ? [k] : []));
      if (open.length === 0) break;
      using part = open.length === sub.count ? null : GpuBatch.upload(ctx, sub.host, open);
      const result = await iterativeAttack(ctx, part ?? sub, epsilon, {
        schedule: "apgd",
        norm: apgd.norm,
        loss: "dlr",
        steps: apgd.apgdSteps!,
        stepFraction: APGD_DEFAULTS.stepFraction,
        randomStart: true,
        restarts: apgd.restarts!,
      }, {
        targets: open.map((k) => ranked[k][r]),
        goal: "misclassify",
        firstRestart: r * apgd.restarts!,
        readImages: true,
      });
      open.forEach((k, j) => {
        found[k] = result.predictions[j];
        images.set(result.images!.subarray(j * per, (j + 1) * per), k * per);
      });
    }
    return { predictions: found, images };
  };
  const queries = settings.square?.queries ?? SQUARE_DEFAULTS.queries;
  const square: StageAttack = (sub, _positions, epsilon) => squareAttack(ctx, sub, epsilon, { queries });
  const fabSteps = settings.fab === null ? 0 : settings.fab?.steps ?? FAB_DEFAULTS.steps;
  // FAB-T's runs do not depend on epsilon: the sweep's epsilons share them.
  const fabMemo: FabMemo = new Map();
  const fab: StageAttack = (sub, _positions, epsilon) =>
    fabTargeted(ctx, sub, epsilon, { ...FAB_DEFAULTS, steps: fabSteps }, fabMemo);
  return [
    { name: "apgd-ce", run: single("apgd-ce") },
    { name: "apgd-t", run: targeted },
    ...(fabSteps > 0 ? [{ name: "fab-t" as const, run: fab }] : []),
    { name: "square", run: square },
  ];
}

/**
 * Each image's target: its least likely class (lowest clean logit), a random class other than its
 * label (drawn per image from the seed and its data index), or the given class.
 */
export function chooseTargets(
  choice: TargetChoice,
  cleanLogits: Float32Array,
  classes: number,
  labels: ArrayLike<number>,
  indices: readonly number[],
  seed: number,
): number[] {
  return indices.map((index, i) => {
    if (typeof choice === "number") return choice;
    if (choice === "least-likely") return rankedClasses(cleanLogits.subarray(i * classes, (i + 1) * classes)).at(-1)!;
    const pick = Math.floor(
      mulberry32((Math.imul(seed ^ 0x7a26e7, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca77)) >>> 0)() * (classes - 1),
    );
    return pick >= labels[i] ? pick + 1 : pick;
  });
}

/** Class indices by descending logit (ties: the lower index first). */
function rankedClasses(logits: ArrayLike<number>): number[] {
  return Array.from(logits, (v, k) => ({ v, k })).sort((a, b) => b.v - a.v || a.k - b.k).map((e) => e.k);
}

/**
 * The sweep of a sequence of attacks with compaction (see the module comment): per epsilon,
 * ascending, each attack runs on the images no attack has flipped yet; a curve is kept after each,
 * and each flipped image's adversarial point (the batch's clean image where none flipped it).
 */
export async function compactedSweep(
  ctx: AuditContext,
  batch: GpuBatch,
  clean: Uint32Array,
  epsilons: readonly number[],
  stages: readonly { name: CurveName; run: StageAttack }[],
  onStage?: (stage: string) => void,
): Promise<{ curves: Partial<Record<CurveName, Uint32Array[]>>; adversarial: Float32Array }> {
  const labels = batch.host.labels;
  const curves: Partial<Record<CurveName, Uint32Array[]>> = {};
  const adversarial = Float32Array.from(batch.host.images);
  const per = adversarial.length / batch.count;
  let current = clean;
  for (const epsilon of epsilons) {
    for (const stage of stages) {
      const open = indicesWhere(current, (p, i) => p === labels[i]);
      if (epsilon > 0 && open.length > 0) {
        onStage?.(stage.name);
        using sub = open.length === batch.count ? null : GpuBatch.upload(ctx, batch.host, open);
        const found = await stage.run(sub ?? batch, open, epsilon);
        current = Uint32Array.from(current);
        open.forEach((p, k) => {
          current[p] = found.predictions[k];
          if (current[p] !== labels[p]) adversarial.set(found.images.subarray(k * per, (k + 1) * per), p * per);
        });
      }
      (curves[stage.name] ??= []).push(current);
    }
  }
  return { curves, adversarial };
}

/** Per epsilon, each image's first flip at this or a smaller epsilon, else its prediction here. */
export function carryFlips(raw: readonly Uint32Array[], labels: ArrayLike<number>): Uint32Array[] {
  const out: Uint32Array[] = [];
  raw.forEach((predictions, j) => {
    const before = out[j - 1];
    out.push(Uint32Array.from(predictions, (p, i) => (before && before[i] !== labels[i] ? before[i] : p)));
  });
  return out;
}

function indicesWhere(values: Uint32Array, test: (value: number, i: number) => boolean): number[] {
  const out: number[] = [];
  values.forEach((v, i) => test(v, i) && out.push(i));
  return out;
}

/** One point of an accuracy-versus-epsilon curve, with where the flips landed. */
export interface CurvePoint extends CurveStats {
  /** Correctly classified images the attack flipped. */
  flips: number;
  /** Flips to a class in the label's superclass (at the settings' depth). */
  sameSuperclass: number;
  /** sameSuperclass / flips; null without flips. */
  sameSuperclassShare: number | null;
  /** Flips by hierarchy distance from label to adversarial class: histogram[d] = count. */
  distanceHistogram: number[];
  /** Mean severity of the flips (LCA height of label and adversarial class, see severity.ts); null without flips. */
  meanSeverity: number | null;
}

/** What the robustness stage reports. */
export interface RobustnessSummary {
  attack: MainAttack;
  /** Images attacked (the curves' denominator). */
  attacked: number;
  /** The chosen attack's curve. */
  curve: CurvePoint[];
  fgsm: CurvePoint[];
  pgd: CurvePoint[] | null;
  /** Every curve swept, by name: the attacks, and AutoAttack's after each of its attacks. */
  curves: Partial<Record<CurveName, CurvePoint[]>>;
  /** FGSM's own accuracy at each epsilon, flips not carried forward (the trust checks' input); null from older chunks. */
  fgsmRaw: CurvePoint[] | null;
  zeroGradients: number;
  zeroGradientShare: number;
  /** Null when the bisection was skipped (resolution 0). */
  minEpsilon: ({ attack: AttackKind; resolution: number } & FlipMedians) | null;
  /**
   * DeepFool's minimal-norm estimates (null when not run); the images it did not flip within its
   * step cap count as above every estimate.
   */
  minimalNorm:
    | ({ method: "deepfool"; norm: Norm; steps: number; candidates: number; overshoot: number } & FlipMedians)
    | null;
  /** The trust checks that fired, each with the images it is based on. */
  flags: TrustFlag[];
  warnings: string[];
}

/** Per-image flipping sizes (epsilons, or minimal-norm estimates) and their medians. */
export interface FlipMedians {
  /** Correctly classified images with a value. */
  flipped: number;
  /** Correctly classified images the attack did not flip. */
  notFlipped: number;
  /** Median over the flipped images only. */
  median: number | null;
  /**
   * Median over every correctly classified attacked image, the ones not flipped counted as above
   * every value; null when that median falls among them.
   */
  medianAll: number | null;
  /** Per image (by index), in data order; null: misclassified or not flipped. */
  values: { index: number; epsilon: number | null }[];
}

/** The medians of per-image values over `correct` correctly classified images. */
function flipMedians(values: { index: number; epsilon: number | null }[], correct: number): FlipMedians {
  const found = values.flatMap((m) => (m.epsilon === null ? [] : [m.epsilon]));
  const notFlipped = correct - found.length;
  return {
    flipped: found.length,
    notFlipped,
    median: median(found),
    medianAll: medianWithUnflipped(found, notFlipped),
    values,
  };
}

interface Tally {
  correct: number;
  flips: number;
  sameSuperclass: number;
  histogram: number[];
  severitySum: number;
}

/** Collects batch outcomes (counts only, plus one number per image); `finish` summarises them. */
export class RobustnessAccumulator {
  #count = 0;
  #cleanCorrect = 0;
  #zeroGradients = 0;
  #tallies: Partial<Record<CurveName | "fgsm-raw", Tally[]>> = {};
  #minEpsilons: { index: number; epsilon: number | null }[] = [];
  #deepFool: { index: number; epsilon: number | null }[] = [];
  #flags = { nearZeroGradient: [] as number[], unstableLogits: [] as number[], probabilityOutputs: [] as number[] };
  /** Images the raw FGSM flipped at one epsilon and not at the next, per step of the sweep. */
  #unflipped: number[][] = [];
  /** Images only Square flipped, per epsilon (AutoAttack). */
  #squareOnly: number[][] = [];
  #raw = true;

  constructor(readonly settings: RobustnessSettings, readonly hierarchy: Hierarchy, readonly rangeWidth: number) {}

  add(batch: BatchRobustness): void {
    const { labels, clean } = batch;
    this.#count += labels.length;
    this.#cleanCorrect += labels.filter((l, i) => clean[i] === l).length;
    this.#zeroGradients += batch.zeroGradients;
    batch.indices.forEach((index, i) => this.#minEpsilons.push({ index, epsilon: batch.minEpsilons[i] }));
    batch.indices.forEach((index, i) => batch.deepFool && this.#deepFool.push({ index, epsilon: batch.deepFool[i] }));
    const curves: [CurveName | "fgsm-raw", Uint32Array[]][] = Object.entries(batch.sweeps) as [
      CurveName,
      Uint32Array[],
    ][];
    if (batch.fgsmRaw) curves.push(["fgsm-raw", batch.fgsmRaw]);
    else this.#raw = false;
    for (const [kind, sweep] of curves) this.#tally(kind, sweep, labels, clean);
    if (batch.flags) {
      const flags = this.#flags;
      for (const key of Object.keys(flags) as (keyof typeof flags)[]) flags[key].push(...batch.flags[key]);
    }
    const flipped = (p: ArrayLike<number>, i: number) => clean[i] === labels[i] && p[i] !== labels[i];
    batch.fgsmRaw?.forEach((raw, j) => {
      if (j === 0) return;
      const list = this.#unflipped[j - 1] ??= [];
      batch.indices.forEach((index, i) => flipped(batch.fgsmRaw![j - 1], i) && !flipped(raw, i) && list.push(index));
    });
    // The white-box attacks' curve just before Square: FAB-T's (APGD-T's in chunks from before FAB-T).
    const [whiteBox, square] = [batch.sweeps["fab-t"] ?? batch.sweeps["apgd-t"], batch.sweeps.square];
    square?.forEach((s, j) => {
      const list = this.#squareOnly[j] ??= [];
      batch.indices.forEach((index, i) => flipped(s, i) && !flipped(whiteBox![j], i) && list.push(index));
    });
  }

  #tally(kind: CurveName | "fgsm-raw", sweep: Uint32Array[], labels: number[], clean: number[]): void {
    const histogramLength = 2 * this.hierarchy.maxDepth + 1;
    const tallies = this.#tallies[kind] ??= sweep.map(() => ({
      correct: 0,
      flips: 0,
      sameSuperclass: 0,
      histogram: new Array<number>(histogramLength).fill(0),
      severitySum: 0,
    }));
    sweep.forEach((predictions, j) => {
      const tally = tallies[j];
      labels.forEach((label, i) => {
        const adversarial = predictions[i];
        if (adversarial === label) tally.correct++;
        else if (clean[i] === label) {
          tally.flips++;
          if (this.hierarchy.sameSuperclass(label, adversarial, this.settings.depth)) tally.sameSuperclass++;
          tally.histogram[this.hierarchy.distance(label, adversarial)]++;
          tally.severitySum += mistakeSeverity(this.hierarchy, label, adversarial);
        }
      });
    });
  }

  finish(): RobustnessSummary {
    const curveOf = (kind: CurveName | "fgsm-raw"): CurvePoint[] | null =>
      this.#tallies[kind]?.map((t, j) => ({
        epsilon: this.settings.epsilons[j],
        accuracy: this.#count > 0 ? t.correct / this.#count : 0,
        successRate: this.#cleanCorrect > 0 ? t.flips / this.#cleanCorrect : null,
        flips: t.flips,
        sameSuperclass: t.sameSuperclass,
        sameSuperclassShare: t.flips > 0 ? t.sameSuperclass / t.flips : null,
        distanceHistogram: t.histogram,
        meanSeverity: t.flips > 0 ? t.severitySum / t.flips : null,
      })) ?? null;
    const curves: RobustnessSummary["curves"] = {};
    for (const kind of Object.keys(this.#tallies) as (CurveName | "fgsm-raw")[]) {
      if (kind !== "fgsm-raw") curves[kind] = curveOf(kind)!;
    }
    const fgsm = curves.fgsm ?? [];
    const pgd = curves.pgd ?? null;
    const curve = curves[this.settings.attack] ?? [];
    const fgsmRaw = this.#raw ? curveOf("fgsm-raw") : null;
    const flags = trustFlags({
      ...this.#flags,
      epsilons: this.settings.epsilons,
      count: this.#count,
      fgsmRaw,
      unflipped: this.#unflipped,
      squareOnly: this.settings.attack === "autoattack" ? this.#squareOnly : null,
    });
    return {
      attack: this.settings.attack,
      attacked: this.#count,
      curve,
      fgsm,
      pgd,
      curves,
      fgsmRaw,
      zeroGradients: this.#zeroGradients,
      zeroGradientShare: this.#count > 0 ? this.#zeroGradients / this.#count : 0,
      minEpsilon: this.settings.resolution > 0
        ? {
          attack: bisectionAttack(this.settings.attack),
          resolution: this.settings.resolution,
          ...flipMedians(this.#minEpsilons, this.#cleanCorrect),
        }
        : null,
      minimalNorm: this.#minimalNorm(),
      flags,
      warnings: [
        ...trustWarnings({
          fgsm,
          pgd,
          chosen: curve,
          chosenName: this.settings.attack.toUpperCase(),
          rangeWidth: this.rangeWidth,
          zeroGradients: this.#zeroGradients,
          count: this.#count,
        }),
        ...flags.map((f) => f.message),
      ],
    };
  }

  #minimalNorm(): RobustnessSummary["minimalNorm"] {
    const deepFool = this.settings.deepFool;
    if (!deepFool) return null;
    const norm = this.settings.norm ?? "linf";
    return { method: "deepfool", ...deepFool, norm, ...flipMedians(this.#deepFool, this.#cleanCorrect) };
  }
}

function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** The median of `found` and `above` more values above all of them; null when it is one of those. */
export function medianWithUnflipped(found: number[], above: number): number | null {
  const total = found.length + above;
  if (total === 0) return null;
  const sorted = [...found].sort((a, b) => a - b);
  const at = (k: number) => (k < sorted.length ? sorted[k] : Infinity);
  const mid = Math.floor(total / 2);
  const value = total % 2 ? at(mid) : (at(mid - 1) + at(mid)) / 2;
  return Number.isFinite(value) ? value : null;
}
