/**
 * deno task audit [--model DIR|FILE.onnx [--sidecar S.json]] [--data SPEC] [--out DIR] [--limit N] [--epsilons 0,0.01,...] ...
 *
 * Audits a model on a labelled data set: accuracy, calibration, the mistake taxonomy with a
 * rectified accuracy, FGSM and PGD accuracy-versus-epsilon curves, smallest flipping epsilons and
 * where flips land in the class hierarchy, saliency for the mistakes and adversarial examples with
 * the sanity check, and per-class prototypes, criticisms and group findings. Writes OUT/report.json,
 * OUT/index.html and OUT/assets/, and prints a summary table. Finished batches are kept in
 * OUT/partial/ until the report is written: `--resume` continues an interrupted run.
 */
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { z } from "zod";
import { Gpu } from "../kernels/gpu.ts";
import { assertReportWritable, writeReport } from "../pipeline/report/report_file.ts";
import {
  AssetWriter,
  batchedCount,
  biasAudit,
  buildReport,
  ChunkStore,
  createAuditContext,
  DEFAULT_EPSILONS,
  defaultBatchSize,
  explainAudit,
  formatSummary,
  LOW_MARGIN,
  PGD_DEFAULTS,
  runAudit,
} from "../pipeline/audit/mod.ts";
import { readGroupsFile } from "../pipeline/bias/groups.ts";
import { openDataSource } from "../pipeline/data/mod.ts";
import { Executor } from "../pipeline/model/executor.ts";
import { defaultFeatureNode } from "../pipeline/explain/features.ts";
import { SALIENCY_METHODS } from "../pipeline/explain/saliency.ts";
import { Hierarchy, loadHierarchy } from "../pipeline/model/hierarchy.ts";
import { InputError } from "../pipeline/io/input_error.ts";
import { loadModel } from "../pipeline/model/load_model.ts";
import { writeReportHtml } from "../pipeline/report/html.ts";
import { startProgress } from "./progress.ts";
import { runCommand, validateFlags } from "./run_command.ts";

const num = z.coerce.number();
const csvNumbers = z.string().regex(
  /^\s*\d*\.?\d+(e-?\d+)?(\s*,\s*\d*\.?\d+(e-?\d+)?)*\s*$/,
  "must be comma-separated non-negative numbers, e.g. 0,0.01,0.1",
).transform((s) => [...new Set(s.split(",").map(Number))].sort((a, b) => a - b));
const count = num.pipe(z.number().int().min(0));

/** Images attacked by default: a seeded sample this size keeps the default audit to minutes here. */
const DEFAULT_ATTACK_SAMPLE = 512;

const Flags = z.object({
  model: z.string().min(1).default("fixtures/models/digits"),
  sidecar: z.string().min(1).optional(),
  data: z.string().min(1).default("mnist"),
  out: z.string().min(1).default("./audit-report"),
  limit: num.pipe(z.number().int().min(1)).optional(),
  "batch-size": num.pipe(z.number().int().min(1).max(4096)).optional(),
  epsilons: csvNumbers.optional(),
  attack: z.enum(["pgd", "fgsm"]).default("pgd"),
  "attack-sample": z.union([z.literal("all"), num.pipe(z.number().int().min(1))]).default(DEFAULT_ATTACK_SAMPLE),
  "pgd-steps": num.pipe(z.number().int().min(1).max(1000)).default(PGD_DEFAULTS.steps),
  "pgd-step-fraction": num.pipe(z.number().positive().max(1)).default(PGD_DEFAULTS.stepFraction),
  saliency: z.enum([...SALIENCY_METHODS, "none"]).default("gradient"),
  shown: count.default(16),
  "sanity-images": count.default(4),
  prototypes: count.default(8),
  criticisms: count.default(4),
  groups: z.string().min(1).optional(),
  "feature-node": z.string().min(1).optional(),
  "features-per-class": num.pipe(z.number().int().min(2)).default(2048),
  hierarchy: z.string().min(1).optional(),
  "superclass-depth": num.pipe(z.number().int().min(1)).default(1),
  "low-margin": num.pipe(z.number().min(0).max(1)).default(LOW_MARGIN),
  "skip-min-epsilon": z.boolean().default(false),
  seed: num.pipe(z.number().int().min(0)).default(1),
  resume: z.boolean().default(false),
  force: z.boolean().default(false),
  json: z.boolean().default(false),
  quiet: z.boolean().default(false),
  verbose: z.boolean().default(false),
});

/** Flags that take no value; every other flag of the schema takes one. */
const BOOLEAN_FLAGS = new Set(["skip-min-epsilon", "resume", "force", "json", "quiet", "verbose", "help"]);
const FLAG_NAMES = [...Object.keys(Flags.shape), "help"];

async function main(args: string[]): Promise<void> {
  const started = performance.now();
  const { values } = parseArgs({
    args,
    options: Object.fromEntries(
      FLAG_NAMES.map((f) => [f, { type: BOOLEAN_FLAGS.has(f) ? "boolean" as const : "string" as const }]),
    ),
  });
  if (values.help) {
    console.log(
      `usage: deno task audit ${FLAG_NAMES.map((f) => `[--${f}${BOOLEAN_FLAGS.has(f) ? "" : " V"}]`).join(" ")}`,
    );
    return;
  }
  const flags = validateFlags(Flags, values);
  await assertReportWritable(flags.out, flags.force || flags.resume);
  const { files: model, sha256, source: modelSource } = await loadModel(flags.model, { sidecar: flags.sidecar });
  const { manifest } = model;
  // A manifest's hierarchy is relative to its model folder; an ONNX file's to the file's folder.
  const modelDir = modelSource === "onnx" ? dirname(flags.model) : flags.model;
  const range = manifest.inputRange;
  const width = range[1] - range[0];
  const epsilons = flags.epsilons ?? DEFAULT_EPSILONS.map((e) => e * width);
  const outside = epsilons.find((e) => e > width);
  if (outside !== undefined) {
    throw new InputError(`--epsilons: ${outside} is outside [0, ${width}], the width of the model's input range`);
  }
  const hierarchyPath = flags.hierarchy ?? (manifest.hierarchy ? join(modelDir, manifest.hierarchy) : undefined);
  const hierarchy = hierarchyPath
    ? await loadHierarchy(hierarchyPath, manifest.classes)
    : Hierarchy.flat(manifest.classes);
  if (flags["superclass-depth"] > hierarchy.maxDepth) {
    throw new InputError(
      `--superclass-depth: ${flags["superclass-depth"]} is deeper than the hierarchy's leaves (${hierarchy.maxDepth})`,
    );
  }
  const { channels, height, width: imageWidth } = manifest.input;
  const source = await openDataSource(flags.data, { channels, height, width: imageWidth });
  const total = batchedCount(source, flags.limit);
  const groups = flags.groups ? await readGroupsFile(flags.groups, { count: source.count }) : undefined;

  using gpu = await Gpu.create();
  using exec = await Executor.create(gpu, model);
  const featureNode = flags.prototypes > 0 ? (flags["feature-node"] ?? defaultFeatureNode(model.graph)) : null;
  if (featureNode !== null && !exec.shapes(1).has(featureNode)) {
    throw new InputError(`--feature-node: the model has no node "${featureNode}"`);
  }
  const ctx = await createAuditContext(exec, range, flags.seed);
  const pgd = { steps: flags["pgd-steps"], stepFraction: flags["pgd-step-fraction"], randomStart: true };
  const resolution = flags["skip-min-epsilon"] ? 0 : width / 256;
  const attackSample = flags["attack-sample"] === "all" || flags["attack-sample"] >= total
    ? null
    : flags["attack-sample"];
  const settings = {
    batchSize: flags["batch-size"] ?? defaultBatchSize(exec),
    limit: flags.limit,
    lowMargin: flags["low-margin"],
    depth: flags["superclass-depth"],
    robustness: { epsilons, attack: flags.attack, pgd, resolution, depth: flags["superclass-depth"] },
    attackSample,
    seed: flags.seed,
    featureNode,
    featuresPerClass: flags["features-per-class"],
  };
  const config = {
    batchSize: settings.batchSize,
    limit: flags.limit ?? null,
    epsilons,
    attack: flags.attack,
    pgd,
    lowMargin: settings.lowMargin,
    superclassDepth: settings.depth,
    hierarchy: hierarchyPath ?? "flat",
    resolution,
    seed: flags.seed,
    attackSample,
    saliency: flags.saliency,
    shown: flags.shown,
    prototypes: flags.prototypes,
    criticisms: flags.criticisms,
    groups: flags.groups ?? null,
  };
  // What a resumed run must share with the run it continues: everything that shapes a batch's results.
  const { batchSize, limit, attack, lowMargin, superclassDepth, seed } = config;
  const fingerprint = {
    model: sha256,
    data: source.name,
    count: total,
    featureNode,
    featuresPerClass: settings.featuresPerClass,
    ...{ batchSize, limit, epsilons, attack, pgd, lowMargin, superclassDepth, resolution, seed, attackSample },
  };
  const chunks = await ChunkStore.open(flags.out, fingerprint, { resume: flags.resume, force: flags.force });
  const quiet = flags.quiet || flags.json;

  const stop = new AbortController();
  const onInterrupt = () => {
    if (!quiet) console.error("\naudit: stopping after the batch in flight (Ctrl-C again to quit at once)");
    if (stop.signal.aborted) Deno.exit(130);
    stop.abort();
  };
  Deno.addSignalListener("SIGINT", onInterrupt);
  const bar = startProgress("audit", total, { quiet, fields: ["stage"] });
  const results = await runAudit(ctx, source, hierarchy, settings, {
    progress: (done, stage) => bar.update(done, { stage }),
    chunks,
    signal: stop.signal,
  }).finally(() => {
    bar.stop();
    Deno.removeSignalListener("SIGINT", onInterrupt);
  });
  if (!results) {
    console.error(`audit: stopped; ${chunks.completed} finished batches kept in ${flags.out}: --resume continues`);
    Deno.exit(130);
  }

  const assets = new AssetWriter(flags.out);
  const timings = results.timings;
  const timed = async <T>(stage: string, work: () => Promise<T>): Promise<T> => {
    const bar = startProgress(stage, 1, { quiet });
    const t0 = performance.now();
    try {
      return await work();
    } finally {
      timings[stage] = (performance.now() - t0) / 1000;
      bar.update(1);
      bar.stop();
    }
  };
  const method = flags.saliency === "none" ? "gradient" : flags.saliency;
  const explanations = flags.saliency === "none"
    ? null
    : await timed("explanations", () =>
      explainAudit(ctx, source, results, {
        method,
        shown: flags.shown,
        sanityImages: flags["sanity-images"],
        attack: flags.attack,
        pgd,
        seed: flags.seed,
      }, assets));
  const bias = results.features === null
    ? null
    : await timed("bias", () =>
      biasAudit(ctx, source, results.features!, manifest.classes, {
        prototypes: flags.prototypes,
        criticisms: flags.criticisms,
        groups,
        method,
        seed: flags.seed,
      }, assets));
  const report = buildReport(results, { explanations, bias }, {
    model: { name: manifest.name, path: flags.model, sha256, classes: manifest.classes, inputRange: range },
    data: { name: source.name, count: results.evaluation.count },
    adapter: gpu.adapter,
    config,
  }, (performance.now() - started) / 1000);
  const path = await writeReport(flags.out, report, { force: true });
  const html = await writeReportHtml(flags.out, report);
  await chunks.remove();
  console.log(flags.json ? JSON.stringify(report) : `${formatSummary(report)}\n\nreport: ${path}\n        ${html}`);
}

if (import.meta.main) await runCommand("audit", main);
