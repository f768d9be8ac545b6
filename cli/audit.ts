/**
 * deno task audit [--model DIR|FILE.onnx [--sidecar S.json]] [--data SPEC] [--out DIR] [--limit N] [--epsilons 0,0.01,...] ...
 *
 * Audits a model on a labelled data set (pipeline/audit/audit.ts) and prints the summary table, or
 * the report as JSON with --json. Ctrl-C stops after the batch in flight (exit 130); `--resume`
 * continues from the finished batches.
 */
import { z } from "zod";
import {
  audit,
  AuditOptionsSchema,
  type AuditStage,
  formatSummary,
  type StageProgress,
} from "../pipeline/audit/mod.ts";
import { numberFlag, parseFlags } from "./flags.ts";
import { startProgress } from "./progress.ts";
import { runCommand } from "./run_command.ts";

const option = AuditOptionsSchema.shape;
const csvNumbers = z.string().regex(
  /^\s*\d*\.?\d+(e-?\d+)?(\s*,\s*\d*\.?\d+(e-?\d+)?)*\s*$/,
  "must be comma-separated non-negative numbers, e.g. 0,0.01,0.1",
).transform((s) => s.split(",").map(Number));

const command = {
  name: "audit",
  summary: "Audits a model (a folder, or an .onnx file with its sidecar) on a labelled data set " +
    "(mnist, fashion-mnist, idx:IMAGES,LABELS, folder:PATH, imagenet:PATH) and writes OUT/report.json and OUT/index.html.",
  flags: z.object({
    model: option.model.meta({ value: "DIR|FILE.onnx" }),
    sidecar: option.sidecar.meta({ value: "S.json" }),
    data: option.data.meta({ value: "SPEC" }),
    out: option.out.meta({ value: "DIR" }),
    limit: numberFlag(option.limit),
    "batch-size": numberFlag(option.batchSize),
    epsilons: csvNumbers.pipe(option.epsilons.unwrap()).optional().meta({ value: "0,0.01,..." }),
    attack: option.attack,
    "attack-sample": numberFlag(option.attackSample),
    "pgd-steps": numberFlag(option.pgdSteps),
    "pgd-step-fraction": numberFlag(option.pgdStepFraction).meta({ value: "F" }),
    // Robustness: APGD and AutoAttack's Square.
    "apgd-steps": numberFlag(option.apgdSteps),
    "apgd-restarts": numberFlag(option.apgdRestarts),
    "square-queries": numberFlag(option.squareQueries),
    target: option.target.meta({ value: "least-likely|random|CLASS" }),
    "min-epsilon-search": option.minEpsilonSearch.meta({ value: "line|attack" }),
    saliency: option.saliency.meta({ value: "METHOD|none" }),
    shown: numberFlag(option.shown),
    "sanity-images": numberFlag(option.sanityImages),
    prototypes: numberFlag(option.prototypes),
    criticisms: numberFlag(option.criticisms),
    groups: option.groups.meta({ value: "FILE" }),
    "feature-node": option.featureNode.meta({ value: "NAME" }),
    "features-per-class": numberFlag(option.featuresPerClass),
    "feature-budget-mb": numberFlag(option.featureBudgetMb),
    hierarchy: option.hierarchy.meta({ value: "FILE|wordnet" }),
    "superclass-depth": numberFlag(option.superclassDepth),
    "real-labels": option.realLabels.meta({ value: "real.json" }),
    "low-margin": numberFlag(option.lowMargin),
    "skip-min-epsilon": option.skipMinEpsilon,
    seed: numberFlag(option.seed),
    resume: option.resume,
    force: option.force,
    json: z.boolean().default(false),
    quiet: z.boolean().default(false),
    verbose: z.boolean().default(false),
  }),
};

async function main(args: string[]): Promise<void> {
  const flags = parseFlags(command, args);
  if (!flags) return;
  const { json, quiet: silent, verbose: _, ...options } = flags;
  const quiet = silent || json;
  // Ctrl-C during the batch pass stops it after the batch in flight; a second one, or one at any
  // other time, quits at once (Deno.exit, so the out folder's lock is released on the way).
  const stop = new AbortController();
  let inBatches = false;
  const onInterrupt = () => {
    if (!inBatches) Deno.exit(130);
    if (!quiet) console.error("\naudit: stopping after the batch in flight (Ctrl-C again to quit at once)");
    if (stop.signal.aborted) Deno.exit(130);
    stop.abort();
  };
  Deno.addSignalListener("SIGINT", onInterrupt);
  const outcome = await audit(options, {
    signal: stop.signal,
    notice: (line) => console.error(`audit: ${line}`),
    stage(stage: AuditStage, total: number): StageProgress {
      const batches = stage === "batches";
      const bar = startProgress(batches ? "audit" : stage, total, { quiet, fields: batches ? ["stage"] : [] });
      if (batches) inBatches = true;
      return {
        update: (done, step) => bar.update(done, step === undefined ? {} : { stage: step }),
        stop() {
          bar.stop();
          if (batches) inBatches = false;
        },
      };
    },
  }).finally(() => Deno.removeSignalListener("SIGINT", onInterrupt));
  if (outcome.stopped) {
    console.error(`audit: stopped; ${outcome.batchesKept} finished batches kept in ${options.out}: --resume continues`);
    Deno.exit(130);
  }
  const { report, paths } = outcome;
  console.log(
    json ? JSON.stringify(report) : `${formatSummary(report)}\n\nreport: ${paths.report}\n        ${paths.html}`,
  );
}

if (import.meta.main) await runCommand("audit", main);
