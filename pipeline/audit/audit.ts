/**
 * The audit from its options: one zod schema holds every option with its default; the run's
 * settings, the report's `config` and the resume fingerprint are each derived from the options once
 * the model, the data and the adapter have filled in what they decide (the batch size, the default
 * epsilons, the hierarchy, the feature node). `audit` runs the stages in order: the batch pass
 * (evaluation, features, attacks; resumable), the explanations, the bias stage, then writes
 * OUT/report.json and OUT/index.html and removes the finished batches. OUT is the tool's own
 * (io/out_folder.ts): marked, and locked while the audit runs. `auditShard` runs one shard's batch
 * pass into OUT/shards/I (shards.ts); the merge (merge.ts) runs `audit` over every shard's chunks.
 *
 * @example
 * ```ts
 * const outcome = await audit({ limit: 100, out: "audit-report" });
 * if (!outcome.stopped) console.log(outcome.report.accuracy.top1, outcome.paths.html);
 * ```
 */
import { join } from "node:path";
import { z } from "zod";
import { Gpu } from "../../kernels/gpu.ts";
import { readGroupsFile } from "../bias/groups.ts";
import { readCounterfactualSpec, specClass } from "../bias/counterfactual.ts";
import { openDataSource } from "../data/mod.ts";
import { readRealLabels } from "../data/real_labels.ts";
import { defaultFeatureNode } from "../explain/features.ts";
import { SALIENCY_METHODS } from "../explain/saliency.ts";
import { insideFolder } from "../io/contained_path.ts";
import { InputError } from "../io/input_error.ts";
import { sizeOf } from "../io/size_of.ts";
import { assertOutFolderUsable, claimOutFolder, markSharedFolder } from "../io/out_folder.ts";
import { Executor } from "../model/executor.ts";
import { Hierarchy, loadHierarchy } from "../model/hierarchy.ts";
import { requireFitsAdapter } from "../model/largest_tensor.ts";
import { loadModel } from "../model/load_model.ts";
import { wordnetHierarchy } from "../model/wordnet.ts";
import { writeReportHtml } from "../report/html.ts";
import { assertReportWritable, writeReport } from "../report/report_file.ts";
import type { AuditReport } from "../schema/report.ts";
import { ASSETS_DIR, AssetWriter } from "./assets.ts";
import { PGD_DEFAULTS, type PgdSettings } from "./attacks.ts";
import { batchedCount } from "./batches.ts";
import { biasAudit } from "./bias_audit.ts";
import { chooseSaliency, type SaliencyChoice } from "./saliency_choice.ts";
import { ChunkStore, nothingToResume, PARTIAL_DIR } from "./chunks.ts";
import { describeFeaturePlan, type FeaturePlan, planFeatures } from "./feature_store.ts";
import { explainAudit } from "./explain_stage.ts";
import { DEFAULT_FAITHFULNESS_IMAGES, faithfulnessAudit } from "./faithfulness_stage.ts";
import { loadRandomLabelModel } from "./sanity_stage.ts";
import { DEFAULT_SANITY_STAGES } from "../explain/sanity.ts";
import { explainStudy } from "./study_sample.ts";
import { createAuditContext, defaultBatchSize } from "./gpu_batch.ts";
import { LOW_MARGIN } from "./mistakes.ts";
import { buildReport } from "./report.ts";
import { DEEPFOOL_DEFAULTS } from "./deepfool.ts";
import { bisectionAttack, DEFAULT_EPSILONS, DEFAULT_L2_EPSILONS, type TargetChoice } from "./robustness.ts";
import { SQUARE_DEFAULTS } from "./square.ts";
import { FAB_DEFAULTS } from "./fab.ts";
import { type AuditSettings, runAudit } from "./run_audit.ts";
import {
  rangeImages,
  removeShardRecord,
  type Shard,
  shardBatches,
  shardFingerprint,
  shardFolder,
  type ShardRecord,
  type ShardSet,
  writeShardRecord,
} from "./shards.ts";

/** Images attacked by default: a seeded sample this size keeps the default audit to minutes here. */
export const DEFAULT_ATTACK_SAMPLE = 512;

/**
 * APGD's iterations by default in the audit. AutoAttack's 100 cost about seven times these; with
 * the flipping epsilons searched along the adversarial direction (forward passes only), 14 keep
 * the default audit within the time 10-step PGD with a bisection by attack took (the README gives
 * the measurements). `--apgd-steps 100` is AutoAttack's setting.
 */
export const DEFAULT_APGD_STEPS = 14;

/** Feature rows held in memory by default: 1 GiB, ImageNet's validation set at 2,048 wide (400 MiB) fits. */
export const DEFAULT_FEATURE_BUDGET_MB = 1024;

const count = z.number().int().min(0);

/** Every option of the audit, with its default. */
export const AuditOptionsSchema = z.object({
  /** A model folder, or an .onnx file. */
  model: z.string().min(1).default("fixtures/models/digits"),
  /** The .onnx model's sidecar JSON (default: the model's path + ".json"). */
  sidecar: z.string().min(1).optional(),
  /** The data source (see pipeline/data/mod.ts). */
  data: z.string().min(1).default("mnist"),
  /** The report folder. */
  out: z.string().min(1).default("./audit-report"),
  /** Audit the first this many images only. */
  limit: z.number().int().min(1).optional(),
  /** Images per GPU batch (default: from the adapter's limits). */
  batchSize: z.number().int().min(1).max(4096).optional(),
  /** Radii of the sweep in the --norm, sorted and deduplicated (default: DEFAULT_EPSILONS or DEFAULT_L2_EPSILONS x the range width). */
  epsilons: z.array(z.number().min(0)).transform((e) => [...new Set(e)].sort((a, b) => a - b)).optional(),
  /** The attack of the main curve and of the flipping epsilons (AutoAttack's ensemble: bisected with APGD-CE). */
  attack: z.enum(["apgd-ce", "pgd", "fgsm", "apgd-dlr", "autoattack"]).default("apgd-ce"),
  /** Images attacked: a seeded sample of this many, or all. */
  attackSample: z.union([z.literal("all"), z.number().int().min(1)]).default(DEFAULT_ATTACK_SAMPLE),
  pgdSteps: z.number().int().min(1).max(1000).default(PGD_DEFAULTS.steps),
  pgdStepFraction: z.number().positive().max(1).default(PGD_DEFAULTS.stepFraction),
  // Robustness: APGD's iterations and restarts, and Square's query budget (AutoAttack).
  apgdSteps: z.number().int().min(1).max(10000).default(DEFAULT_APGD_STEPS),
  apgdRestarts: z.number().int().min(1).max(100).default(1),
  squareQueries: z.number().int().min(1).max(100000).default(SQUARE_DEFAULTS.queries),
  // Robustness: FAB-T's steps per target class (AutoAttack).
  fabSteps: z.number().int().min(1).max(1000).default(FAB_DEFAULTS.steps),
  // Robustness: the threat model (L2: FGM, PGD and APGD; no L2 Square, so not with AutoAttack).
  norm: z.enum(["linf", "l2"]).default("linf"),
  /** DeepFool's step cap for the minimal-norm estimate (0, the default, skips it; 50 is the paper's; not with skipMinEpsilon). */
  deepfoolSteps: count.max(1000).default(0),
  /** How the flipping epsilon is bisected: along the sweep's adversarial direction (forward passes), or by attacking again. */
  minEpsilonSearch: z.enum(["line", "attack"]).default("line"),
  /** A targeted main attack: each image's least likely class, a seeded random class, or a class (index or name). */
  target: z.union([z.enum(["least-likely", "random"]), z.number().int().min(0), z.string().min(1)]).optional(),
  // Explanations: the method (saliency_choice.ts: default Grad-CAM for a ConvNet, else the gradient), its layer, occlusion's patch.
  /** Saliency method of the explanations; "none" skips them. */
  saliency: z.enum([...SALIENCY_METHODS, "none"]).optional(),
  /** Grad-CAM's layer (a rank-4 node; default the last spatial one). */
  camLayer: z.string().min(1).optional(),
  /** Occlusion's patch side and stride in pixels (default a seventh of the side, and half the patch). */
  occlusionPatch: z.number().int().min(1).max(1024).optional(),
  occlusionStride: z.number().int().min(1).max(1024).optional(),
  /** The methods the faithfulness metrics and sanity checks compare (saliency_choice.ts): a rule or a list. */
  compareMethods: z.union([z.enum(["auto", "all", "fast"]), z.array(z.enum(SALIENCY_METHODS)).min(1)], {
    error: `must be auto, all, fast or a comma-separated list of ${SALIENCY_METHODS.join(", ")}`,
  }).default("auto"),
  /** Mistakes and adversarial examples shown with explanations, at most. */
  shown: count.max(1000).default(16),
  /** Images of the sanity check (0 skips it). */
  sanityImages: count.max(64).default(4),
  // Explanations: the faithfulness metrics' seeded sample of images (0 skips them; faithfulness_stage.ts).
  faithfulnessImages: count.max(256).default(DEFAULT_FAITHFULNESS_IMAGES),
  // Sanity checks (pipeline/audit/sanity_stage.ts): stages per randomisation test, and the data
  // randomisation test's model trained on shuffled labels (no data test without one).
  sanityStages: z.number().int().min(1).max(256).default(DEFAULT_SANITY_STAGES),
  sanityRandomModel: z.string().min(1).optional(),
  /** MMD-critic prototypes per class (0 skips the bias stage). */
  prototypes: count.max(256).default(8),
  criticisms: count.max(256).default(4),
  /** A CSV file `index,group` for the group findings. */
  groups: z.string().min(1).optional(),
  // Bias: the counterfactual test.
  /** A counterfactual edit and its class, as inline JSON or a JSON file (pipeline/schema/counterfactual.ts). */
  counterfactual: z.string().min(1).optional(),
  /** The node whose activations are the features (default: the final dense's input). */
  featureNode: z.string().min(1).optional(),
  /** Feature rows kept per predicted class at most: bounds the bias stage's time. */
  featuresPerClass: z.number().int().min(2).max(65536).default(2048),
  /** Mebibytes of feature rows held in memory at most; the rows beyond go to disk under OUT/partial. */
  featureBudgetMb: z.number().positive().max(2 ** 20).default(DEFAULT_FEATURE_BUDGET_MB),
  /** The class hierarchy file, or "wordnet": WordNet 3.0 over the model's wnids (default: the model's file, else flat). */
  hierarchy: z.string().min(1).optional(),
  superclassDepth: z.number().int().min(1).max(1000).default(1),
  /** Each image's valid labels, ImageNet-ReaL's real.json format, for ReaL accuracy and "other object" mistakes. */
  realLabels: z.string().min(1).optional(),
  /** Margin below which a mistake counts as ambiguous. */
  lowMargin: z.number().min(0).max(1).default(LOW_MARGIN),
  /** Skip the bisection of each image's epsilon that flips it. */
  skipMinEpsilon: z.boolean().default(false),
  seed: z.number().int().min(0).max(2 ** 32 - 1).default(1),
  /** Continue the unfinished audit in `out` from its finished batches. */
  resume: z.boolean().default(false),
  /** Overwrite a report, or discard an unfinished audit, in `out`. */
  force: z.boolean().default(false),
  // Human study (deno task review): the seeded study sample's size, for mistakes and for flips each (0: none).
  study: count.max(10000).default(48),
});
/** The audit's options as given: every one may be left out. */
export type AuditOptions = z.input<typeof AuditOptionsSchema>;

/** The options with what the model, the data and the adapter decide filled in. */
interface ResolvedAudit {
  options: z.output<typeof AuditOptionsSchema>;
  model: { sha256: string };
  data: { name: string; count: number };
  batchSize: number;
  epsilons: number[];
  pgd: PgdSettings;
  apgd: { steps: number; restarts: number };
  target: TargetChoice | null;
  /** Bisection resolution of the epsilon that flips: 1/256 of the range width, 0 when skipped. */
  resolution: number;
  /** null: every image is attacked. */
  attackSample: number | null;
  /** The hierarchy as the report's config names it: its file, "flat", or WordNet and its path rule. */
  hierarchyName: string;
  /** null when the bias stage is skipped. */
  featureNode: string | null;
  /** The feature store's bounds; null when the bias stage is skipped. */
  featurePlan: FeaturePlan | null;
  /** The saliency method (the default resolved for the model) and its settings. */
  saliency: SaliencyChoice;
}

/** The batch pass's settings. */
function runSettings(r: ResolvedAudit): AuditSettings {
  const { options } = r;
  return {
    batchSize: r.batchSize,
    limit: options.limit,
    lowMargin: options.lowMargin,
    depth: options.superclassDepth,
    robustness: {
      epsilons: r.epsilons,
      attack: options.attack,
      norm: options.norm,
      pgd: r.pgd,
      apgd: r.apgd,
      square: { queries: options.squareQueries },
      fab: { steps: options.fabSteps },
      target: r.target,
      minEpsilonSearch: options.minEpsilonSearch,
      deepFool: r.resolution > 0 && options.deepfoolSteps > 0
        ? {
          steps: options.deepfoolSteps,
          candidates: DEEPFOOL_DEFAULTS.candidates,
          overshoot: DEEPFOOL_DEFAULTS.overshoot,
        }
        : null,
      resolution: r.resolution,
      depth: options.superclassDepth,
    },
    attackSample: r.attackSample,
    seed: options.seed,
    featureNode: r.featureNode,
    featurePlan: r.featurePlan,
    study: r.saliency.method === "none" ? 0 : options.study,
  };
}

/** The report's `config`: the settings a reader needs to interpret the figures. */
function reportConfig(r: ResolvedAudit): AuditReport["config"] {
  const { options } = r;
  return {
    batchSize: r.batchSize,
    limit: options.limit ?? null,
    epsilons: r.epsilons,
    attack: options.attack,
    norm: options.norm,
    pgd: r.pgd,
    apgd: r.apgd,
    ...(options.attack === "autoattack" ? { squareQueries: options.squareQueries } : {}),
    ...(options.attack === "autoattack" ? { fabSteps: options.fabSteps } : {}),
    ...(r.target === null ? {} : { target: r.target }),
    minEpsilonSearch: options.minEpsilonSearch,
    lowMargin: options.lowMargin,
    superclassDepth: options.superclassDepth,
    hierarchy: r.hierarchyName,
    resolution: r.resolution,
    seed: options.seed,
    attackSample: r.attackSample,
    saliency: r.saliency.method,
    ...(r.saliency.method === "gradcam" || r.saliency.method === "gradcam++"
      ? { camLayer: r.saliency.settings.camLayer }
      : {}),
    ...(r.saliency.method === "occlusion" ? { occlusion: r.saliency.settings.occlusion } : {}),
    shown: options.shown,
    prototypes: options.prototypes,
    criticisms: options.criticisms,
    groups: options.groups ?? null,
    realLabels: options.realLabels ?? null,
  };
}

/**
 * What a resumed run must share with the run it continues: the model, the data and every setting
 * that shapes a batch's results. It is the report's config less the settings that only the stages
 * after the batch pass read, so a setting added to the config is covered unless listed here.
 */
function resumeFingerprint(r: ResolvedAudit): Record<string, unknown> {
  const {
    hierarchy: _h,
    saliency: _s,
    camLayer: _l,
    occlusion: _o,
    shown: _n,
    prototypes: _p,
    criticisms: _c,
    groups: _g,
    realLabels: _r,
    ...batchShaping
  } = reportConfig(r);
  return {
    model: r.model.sha256,
    data: r.data.name,
    count: r.data.count,
    featureNode: r.featureNode,
    featuresPerClass: r.options.featuresPerClass,
    ...batchShaping,
  };
}

/** The audit's stages, in the order they run. */
export type AuditStage = "batches" | "explanations" | "faithfulness" | "bias";

/** Where a stage's progress goes. */
export interface StageProgress {
  /** `done` of the stage's total; `step`: the part of a batch now running (the batch pass only). */
  update(done: number, step?: string): void;
  stop(): void;
}

/** What the caller sees of, and how it stops, a running audit. */
export interface AuditHooks {
  /** Called as each stage starts, with its total (images for the batch pass, 1 for the others). */
  stage?(stage: AuditStage, total: number): StageProgress;
  /** Aborting stops the batch pass after the batch in flight; the finished batches stay for `resume`. */
  signal?: AbortSignal;
  /** Called with a line worth telling the user that is not an error (a stale lock taken over). */
  notice?(line: string): void;
}

/** A finished audit (its report and the files written), or one stopped by the signal. */
export type AuditOutcome =
  | { stopped: false; report: AuditReport; paths: { report: string; html: string } }
  | { stopped: true; batchesKept: number };

/** The audit's options once parsed. */
type Options = z.output<typeof AuditOptionsSchema>;

/** What an audit opens before its batch pass: inputs, GPU, executor, and the resolved settings. */
interface OpenedAudit extends Disposable, Awaited<ReturnType<typeof openInputs>> {
  /** Images audited. */
  total: number;
  gpu: Gpu;
  ctx: Awaited<ReturnType<typeof createAuditContext>>;
  resolved: ResolvedAudit;
}

/** Opens the inputs and the GPU, checks the options against them and resolves the settings. */
async function openAudit(options: Options): Promise<OpenedAudit> {
  const inputs = await openInputs(options);
  const { model, range, source } = inputs;
  const total = batchedCount(source, options.limit);
  const gpu = await Gpu.create();
  let exec: Executor | undefined;
  const dispose = () => {
    exec?.[Symbol.dispose]();
    gpu[Symbol.dispose]();
  };
  try {
    exec = await Executor.create(gpu, model);
    const featureNode = options.prototypes > 0 ? (options.featureNode ?? defaultFeatureNode(model.graph)) : null;
    if (featureNode !== null && !exec.shapes(1).has(featureNode)) {
      throw new InputError(`--feature-node: the model has no node "${featureNode}"`);
    }
    if (options.sanityRandomModel && options.sanityImages > 0 && options.saliency !== "none") {
      await loadRandomLabelModel(options.sanityRandomModel, model.graph.input.shape, exec.outputShape(1)[1]);
    }
    if (options.batchSize !== undefined) {
      // The largest batch this run makes: no more images than it audits.
      const batch = Math.min(options.batchSize, total);
      const paramShape = (name: string) => model.weights.get(name)!.shape;
      requireFitsAdapter(gpu, model.graph, paramShape, batch, `--batch-size ${options.batchSize}`);
    }
    const ctx = await createAuditContext(exec, range, options.seed);
    const width = range[1] - range[0];
    const resolved: ResolvedAudit = {
      options,
      model: { sha256: inputs.sha256 },
      data: { name: source.name, count: total },
      batchSize: options.batchSize ?? defaultBatchSize(exec),
      epsilons: inputs.epsilons,
      pgd: { steps: options.pgdSteps, stepFraction: options.pgdStepFraction, randomStart: true },
      apgd: { steps: options.apgdSteps, restarts: options.apgdRestarts },
      target: resolveTarget(options.target, options.attack, model.manifest.classes),
      resolution: options.skipMinEpsilon ? 0 : width / 256,
      attackSample: options.attackSample === "all" || options.attackSample >= total ? null : options.attackSample,
      hierarchyName: inputs.hierarchyName,
      featureNode,
      featurePlan: featureNode === null ? null : planFeatures({
        classes: model.manifest.classes.length,
        width: sizeOf(exec.shapes(1).get(featureNode)!.slice(1)),
        rowsPerClass: options.featuresPerClass,
        images: total,
        budgetBytes: options.featureBudgetMb * 2 ** 20,
        picks: options.prototypes + options.criticisms,
      }),
      saliency: chooseSaliency(exec, options),
    };
    return { ...inputs, total, gpu, ctx, resolved, [Symbol.dispose]: dispose };
  } catch (e) {
    dispose();
    throw e;
  }
}

/**
 * Runs the audit. Inputs that do not fit the options (a missing model, epsilons beyond the input
 * range, an unknown feature node...) throw an InputError naming the option by its flag; options
 * outside the schema throw its ZodError. With `shards` (merge.ts), the batch pass replays the
 * shards' chunks instead of computing batches: the whole-set stages after it are the same.
 */
export async function audit(
  input: AuditOptions = {},
  hooks: AuditHooks = {},
  shards?: ShardSet,
): Promise<AuditOutcome> {
  const started = performance.now();
  const options = AuditOptionsSchema.parse(input);
  await assertReportWritable(options.out, options.force || options.resume);
  await assertOutFolderUsable(options.out, { flag: "--out", force: options.force });
  using opened = await openAudit(options);
  const { model, sha256, range, hierarchy, source, groups, realLabels, counterfactual, total, gpu, ctx, resolved } =
    opened;
  using folder = await claimOutFolder(options.out, {
    flag: "--out",
    command: shards ? "merge" : "audit",
    force: options.force,
    create: !options.resume,
    marker: true,
    tempFolders: ["", ASSETS_DIR, PARTIAL_DIR],
  });
  if (folder === null) throw nothingToResume(options.out);
  if (folder.tookOver) hooks.notice?.(folder.tookOver);
  // Under the lock: a run that ended between the first look and the claim may have written a report.
  await assertReportWritable(options.out, options.force || options.resume);
  const chunks = shards
    ? await shards.chunks(resumeFingerprint(resolved))
    : await ChunkStore.open(options.out, resumeFingerprint(resolved), {
      resume: options.resume,
      force: options.force,
    });

  if (resolved.featurePlan) hooks.notice?.(describeFeaturePlan(resolved.featurePlan));
  const batches = hooks.stage?.("batches", total);
  const results = await runAudit(ctx, source, hierarchy, { ...runSettings(resolved), realLabels }, {
    progress: (done, step) => batches?.update(done, step),
    chunks,
    signal: hooks.signal,
  }).finally(() => batches?.stop());
  if (!results) return { stopped: true, batchesKept: chunks instanceof ChunkStore ? chunks.completed : 0 };
  const assets = new AssetWriter(options.out);
  const timed = async <T>(stage: AuditStage, work: () => Promise<T>): Promise<T> => {
    const progress = hooks.stage?.(stage, 1);
    const t0 = performance.now();
    try {
      return await work();
    } finally {
      results.timings[stage] = (performance.now() - t0) / 1000;
      progress?.update(1);
      progress?.stop();
    }
  };
  const method = resolved.saliency.method === "none" ? "gradient" : resolved.saliency.method;
  const saliencyOptions = resolved.saliency.settings;
  const { attack, seed } = options;
  const explainSettings = {
    method,
    saliencyOptions,
    shown: options.shown,
    sanityImages: options.sanityImages,
    sanity: {
      stages: options.sanityStages,
      randomLabelModel: options.sanityRandomModel,
      methods: resolved.saliency.compared,
    },
    attack: bisectionAttack(attack),
    pgd: resolved.pgd,
    apgd: resolved.apgd,
    norm: options.norm,
    seed,
  };
  const explained = resolved.saliency.method === "none" ? null : await timed("explanations", async () => {
    const shown = await explainAudit(ctx, source, results, explainSettings, assets);
    const study = options.study === 0
      ? null
      : await explainStudy(ctx, source, results, { ...explainSettings, study: options.study }, assets, shown);
    return { shown, study };
  });
  const explanations = explained?.shown ?? null;
  const faithfulness = options.saliency === "none" || options.faithfulnessImages === 0
    ? null
    : await timed("faithfulness", () =>
      faithfulnessAudit(ctx, source, results, {
        images: options.faithfulnessImages,
        seed,
        methods: resolved.saliency.compared,
      }));
  const features = results.features;
  const bias = features === null ? null : await timed("bias", () =>
    biasAudit(
      ctx,
      source,
      features,
      model.manifest.classes,
      {
        prototypes: options.prototypes,
        criticisms: options.criticisms,
        groups,
        counterfactual,
        // A class's mean prototype saliency is a pixel map (its peak is reported): the gradient unless --saliency names one.
        method: options.saliency === undefined ? "gradient" : method,
        saliencyOptions,
        seed,
        store: results.featureStore,
      },
      assets,
    ));
  const report = buildReport(results, { explanations, bias, study: explained?.study ?? null, faithfulness }, {
    model: {
      name: model.manifest.name,
      path: options.model,
      sha256,
      classes: model.manifest.classes,
      inputRange: range,
    },
    data: { name: source.name, count: results.evaluation.count },
    adapter: gpu.adapter,
    config: reportConfig(resolved),
  }, (performance.now() - started) / 1000);
  const reportPath = await writeReport(options.out, report, { force: true });
  const htmlPath = await writeReportHtml(options.out, report);
  await chunks.remove();
  return { stopped: false, report, paths: { report: reportPath, html: htmlPath } };
}

/** A finished shard (its record and folder), or one stopped by the signal. */
export type ShardOutcome =
  | { stopped: false; record: ShardRecord; folder: string }
  | { stopped: true; batchesKept: number };

/**
 * Runs one shard's batch pass (shards.ts): its batches go to OUT/shards/I/, resumed from the
 * chunks there when a run with the same settings left them (a rescheduled shard reruns the same
 * command); the shard's record is written last. Each shard locks only its own folder, so every
 * shard can write into one OUT at once; a run that holds OUT itself (a merge) keeps them out.
 */
export async function auditShard(input: AuditOptions, shard: Shard, hooks: AuditHooks = {}): Promise<ShardOutcome> {
  const started = performance.now();
  const options = AuditOptionsSchema.parse(input);
  await assertOutFolderUsable(options.out, { flag: "--out", force: options.force });
  using opened = await openAudit(options);
  const { resolved, total } = opened;
  const batches = shardBatches(shard, total, resolved.batchSize);
  const folder = shardFolder(shard);
  await markSharedFolder(options.out, { flag: "--out", command: "audit", force: options.force });
  using claim = await claimOutFolder(join(options.out, folder), {
    flag: "--out",
    command: `audit --shard ${shard.index}/${shard.count}`,
    force: options.force,
    create: true,
    marker: true,
    tempFolders: [""],
  });
  if (claim?.tookOver) hooks.notice?.(claim.tookOver);
  await removeShardRecord(options.out, shard);
  const fingerprint = resumeFingerprint(resolved);
  const chunks = await ChunkStore.open(options.out, shardFingerprint(fingerprint, shard), {
    resume: "auto",
    force: options.force,
    folder,
    first: batches.first,
  });
  if (chunks.completed > 0) hooks.notice?.(`${folder}: continuing after its ${chunks.completed} finished batches`);
  const images = rangeImages(batches, total, resolved.batchSize);
  const progress = hooks.stage?.("batches", images);
  // The feature store is the merge's: a shard's chunks hold every row.
  const settings = { ...runSettings(resolved), featurePlan: null, batches, realLabels: opened.realLabels };
  const results = await runAudit(opened.ctx, opened.source, opened.hierarchy, settings, {
    progress: (done, step) => progress?.update(done, step),
    chunks,
    signal: hooks.signal,
  }).finally(() => progress?.stop());
  if (!results) return { stopped: true, batchesKept: chunks.completed };
  const { out: _o, force: _f, resume: _r, ...kept } = options;
  const record: ShardRecord = {
    shard,
    batches,
    images,
    fingerprint,
    options: { ...kept, batchSize: resolved.batchSize },
    seconds: (performance.now() - started) / 1000,
    timings: results.timings,
  };
  await writeShardRecord(options.out, record);
  return { stopped: false, record, folder: join(options.out, folder) };
}

/** Reads the model, the hierarchy, the data source, the groups and the real labels, checking the options against them. */
async function openInputs(options: z.output<typeof AuditOptionsSchema>) {
  const { files: model, sha256, hierarchy: named } = await loadModel(options.model, { sidecar: options.sidecar });
  const { manifest } = model;
  const range = manifest.inputRange;
  const width = range[1] - range[0];
  const epsilons = options.epsilons ??
    (options.norm === "l2" ? DEFAULT_L2_EPSILONS : DEFAULT_EPSILONS).map((e) => e * width);
  // The largest distance inside the input box: the range width, times sqrt(pixels) in L2.
  const { channels: c, height: h, width: w } = manifest.input;
  const diameter = options.norm === "l2" ? width * Math.sqrt(c * h * w) : width;
  const outside = epsilons.find((e) => e > diameter);
  if (outside !== undefined) {
    throw new InputError(
      `--epsilons: ${outside} is outside [0, ${diameter}], the ${options.norm} diameter of the model's input range`,
    );
  }
  if (options.norm === "l2" && options.attack === "autoattack") {
    throw new InputError(
      "--norm l2: AutoAttack's ensemble needs Square, which is L-infinity only here; use --attack apgd-ce, apgd-dlr, pgd or fgsm",
    );
  }
  const hierarchyPath = options.hierarchy ?? (named ? join(named.folder, named.path) : null);
  // A path the model's manifest or sidecar names must stay inside that file's folder; --hierarchy is the user's own.
  const hierarchy = hierarchyPath === WORDNET
    ? await wordnetHierarchy(requireWnids(manifest.wnids), manifest.classes)
    : options.hierarchy
    ? await loadHierarchy(options.hierarchy, manifest.classes)
    : named
    ? await loadHierarchy(await insideFolder(named.folder, named.path, named.field), manifest.classes)
    : Hierarchy.flat(manifest.classes);
  const hierarchyName = hierarchyPath === WORDNET ? `wordnet: ${hierarchy.source}` : hierarchyPath ?? "flat";
  if (options.superclassDepth > hierarchy.maxDepth) {
    throw new InputError(
      `--superclass-depth: ${options.superclassDepth} is deeper than the hierarchy's leaves (${hierarchy.maxDepth})`,
    );
  }
  const { channels, height, width: imageWidth } = manifest.input;
  const source = await openDataSource(options.data, {
    channels,
    height,
    width: imageWidth,
    ...(manifest.preprocess ? { preprocess: manifest.preprocess } : {}),
    ...(manifest.wnids ? { classIds: manifest.wnids } : {}),
  });
  const groups = options.groups ? await readGroupsFile(options.groups, { count: source.count }) : undefined;
  const counterfactual = options.counterfactual ? await readCounterfactualSpec(options.counterfactual) : undefined;
  if (counterfactual) specClass(counterfactual, manifest.classes);
  const copyFrom = counterfactual?.copy?.index;
  if (copyFrom !== undefined && copyFrom >= source.count) {
    throw new InputError(
      `--counterfactual: copy.index ${copyFrom} is past the data set's last example (${source.count - 1})`,
    );
  }
  const realLabels = options.realLabels
    ? await readRealLabels(options.realLabels, {
      classes: manifest.classes.length,
      count: batchedCount(source, options.limit),
    })
    : undefined;
  return { model, sha256, range, epsilons, hierarchy, hierarchyName, source, groups, realLabels, counterfactual };
}

/** The --hierarchy value that asks for WordNet's tree over the model's wnids (model/wordnet.ts). */
const WORDNET = "wordnet";

function requireWnids(wnids: string[] | undefined): string[] {
  if (!wnids) {
    throw new InputError(
      `--hierarchy wordnet: the model declares no wnids (add "wnids", one WordNet id per class, to its manifest or sidecar)`,
    );
  }
  return wnids;
}

/** --target as the robustness stage takes it: a class name becomes its index; null when untargeted. */
function resolveTarget(
  target: string | number | undefined,
  attack: string,
  classes: readonly string[],
): TargetChoice | null {
  if (target === undefined) return null;
  if (attack === "autoattack") {
    throw new InputError(
      "--target: AutoAttack is untargeted (its APGD-T picks its own targets); use --attack apgd-ce, apgd-dlr, pgd or fgsm",
    );
  }
  if (target === "least-likely" || target === "random") return target;
  const index = typeof target === "number" ? target : /^\d+$/.test(target) ? Number(target) : classes.indexOf(target);
  if (!(index >= 0 && index < classes.length)) {
    throw new InputError(
      `--target: ${target} is not least-likely, random, a class index below ${classes.length} or a class name of the model`,
    );
  }
  return index;
}
