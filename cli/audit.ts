/**
 * deno task audit [--model DIR] [--data SPEC] [--out DIR] [--limit N] [--epsilons 0,0.01,...] [--attack pgd|fgsm] ...
 *
 * Audits a model on a labelled data set: accuracy, calibration, the mistake taxonomy with a
 * rectified accuracy, FGSM and PGD accuracy-versus-epsilon curves, smallest flipping epsilons and
 * where flips land in the class hierarchy. Writes OUT/report.json and prints a summary table.
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { z } from "zod";
import { Gpu } from "../kernels/gpu.ts";
import {
  assertReportWritable,
  batchedCount,
  buildReport,
  createAuditContext,
  DEFAULT_EPSILONS,
  formatSummary,
  LOW_MARGIN,
  PGD_DEFAULTS,
  runAudit,
  writeReport,
} from "../pipeline/audit/mod.ts";
import { openDataSource } from "../pipeline/data/mod.ts";
import { Executor } from "../pipeline/executor.ts";
import { Hierarchy, loadHierarchy } from "../pipeline/hierarchy.ts";
import { InputError } from "../pipeline/input_error.ts";
import { loadModelFolder } from "../pipeline/model_folder.ts";
import { startProgress } from "./progress.ts";
import { runCommand, validateFlags } from "./run_command.ts";

const num = z.coerce.number();
const csvNumbers = z.string().regex(
  /^\s*\d*\.?\d+(e-?\d+)?(\s*,\s*\d*\.?\d+(e-?\d+)?)*\s*$/,
  "must be comma-separated non-negative numbers, e.g. 0,0.01,0.1",
).transform((s) => [...new Set(s.split(",").map(Number))].sort((a, b) => a - b));

const Flags = z.object({
  model: z.string().min(1).default("fixtures/models/digits"),
  data: z.string().min(1).default("mnist"),
  out: z.string().min(1).default("./audit-report"),
  limit: num.pipe(z.number().int().min(1)).optional(),
  "batch-size": num.pipe(z.number().int().min(1).max(4096)).default(64),
  epsilons: csvNumbers.optional(),
  attack: z.enum(["pgd", "fgsm"]).default("pgd"),
  "pgd-steps": num.pipe(z.number().int().min(1).max(1000)).default(PGD_DEFAULTS.steps),
  "pgd-step-fraction": num.pipe(z.number().positive().max(1)).default(PGD_DEFAULTS.stepFraction),
  hierarchy: z.string().min(1).optional(),
  "superclass-depth": num.pipe(z.number().int().min(1)).default(1),
  "low-margin": num.pipe(z.number().min(0).max(1)).default(LOW_MARGIN),
  "skip-min-epsilon": z.boolean().default(false),
  seed: num.pipe(z.number().int().min(0)).default(1),
  force: z.boolean().default(false),
  json: z.boolean().default(false),
  quiet: z.boolean().default(false),
  verbose: z.boolean().default(false),
});

/** Flags that take no value; every other flag of the schema takes one. */
const BOOLEAN_FLAGS = new Set(["skip-min-epsilon", "force", "json", "quiet", "verbose", "help"]);
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
  await assertReportWritable(flags.out, flags.force);
  const model = await loadModelFolder(flags.model);
  const { manifest } = model;
  const range = manifest.inputRange;
  const width = range[1] - range[0];
  const epsilons = flags.epsilons ?? DEFAULT_EPSILONS.map((e) => e * width);
  const outside = epsilons.find((e) => e > width);
  if (outside !== undefined) {
    throw new InputError(`--epsilons: ${outside} is outside [0, ${width}], the width of the model's input range`);
  }
  const hierarchyPath = flags.hierarchy ?? (manifest.hierarchy ? join(flags.model, manifest.hierarchy) : undefined);
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
  const weights = await Deno.readFile(join(flags.model, "weights.safetensors"));
  const sha256 = Array.from(new Uint8Array(await crypto.subtle.digest("SHA-256", weights)))
    .map((b) => b.toString(16).padStart(2, "0")).join("");

  using gpu = await Gpu.create();
  using exec = await Executor.create(gpu, model);
  const ctx = await createAuditContext(exec, range, flags.seed);
  const pgd = { steps: flags["pgd-steps"], stepFraction: flags["pgd-step-fraction"], randomStart: true };
  const resolution = flags["skip-min-epsilon"] ? 0 : width / 256;
  const settings = {
    batchSize: flags["batch-size"],
    limit: flags.limit,
    lowMargin: flags["low-margin"],
    depth: flags["superclass-depth"],
    robustness: { epsilons, attack: flags.attack, pgd, resolution, depth: flags["superclass-depth"] },
  };
  const bar = startProgress("audit", batchedCount(source, flags.limit), {
    quiet: flags.quiet || flags.json,
    fields: ["stage"],
  });
  const results = await runAudit(ctx, source, hierarchy, settings, {
    progress: (done, stage) => bar.update(done, { stage }),
  });
  bar.stop();
  const report = buildReport(results, {
    model: { name: manifest.name, path: flags.model, sha256, classes: manifest.classes, inputRange: range },
    data: { name: source.name, count: results.evaluation.count },
    adapter: gpu.adapter,
    config: {
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
    },
  }, (performance.now() - started) / 1000);
  const path = await writeReport(flags.out, report, { force: flags.force });
  console.log(flags.json ? JSON.stringify(report) : `${formatSummary(report)}\n\nreport: ${path}`);
}

if (import.meta.main) await runCommand("audit", main);
