/**
 * deno task audit [--model DIR|FILE.onnx [--sidecar S.json]] [--data SPEC] [--out DIR] [--limit N] [--epsilons 0,0.01,...] ...
 *
 * Audits a model on a labelled data set (pipeline/audit/audit.ts) and prints the summary table, or
 * the report as JSON with --json. Ctrl-C stops after the batch in flight (exit 130); `--resume`
 * continues from the finished batches. `--shard I/N` (or `auto`, under Slurm or a Kubernetes
 * Indexed Job) audits one shard's batches into OUT/shards/I; `deno task merge` makes the report.
 */
import { z } from "zod";
import { audit, AuditOptionsSchema, auditShard, parseShard } from "../pipeline/audit/mod.ts";
import { outputFlags, printOutcome, withAuditHooks } from "./audit_hooks.ts";
import { numberFlag, parseFlags } from "./flags.ts";
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
    "fab-steps": numberFlag(option.fabSteps),
    target: option.target.meta({ value: "least-likely|random|CLASS" }),
    norm: option.norm.meta({ value: "linf|l2" }),
    "deepfool-steps": numberFlag(option.deepfoolSteps),
    "min-epsilon-search": option.minEpsilonSearch.meta({ value: "line|attack" }),
    saliency: option.saliency.meta({ value: "METHOD|none" }),
    // Explanations: Grad-CAM's layer and occlusion's patch.
    "cam-layer": option.camLayer.meta({ value: "NAME" }),
    "occlusion-patch": numberFlag(option.occlusionPatch),
    "occlusion-stride": numberFlag(option.occlusionStride),
    "compare-methods": z.string().transform((s) => (["auto", "all", "fast"].includes(s) ? s : s.split(",")))
      .pipe(option.compareMethods.unwrap()).optional().meta({ value: "auto|all|fast|M1,M2" }),
    shown: numberFlag(option.shown),
    study: numberFlag(option.study),
    "sanity-images": numberFlag(option.sanityImages),
    "faithfulness-images": numberFlag(option.faithfulnessImages),
    "sanity-stages": numberFlag(option.sanityStages),
    "sanity-random-model": option.sanityRandomModel.meta({ value: "DIR" }),
    prototypes: numberFlag(option.prototypes),
    criticisms: numberFlag(option.criticisms),
    groups: option.groups.meta({ value: "FILE" }),
    counterfactual: option.counterfactual.meta({ value: "SPEC" }),
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
    // Sharded audits (pipeline/audit/shards.ts): this run's part of the batches, merged by `deno task merge`.
    shard: z.string().optional().meta({ value: "I/N|auto" }),
    ...outputFlags,
  }),
};

async function main(args: string[]): Promise<void> {
  const flags = parseFlags(command, args);
  if (!flags) return;
  const { json, quiet: silent, verbose: _, shard: shardFlag, ...options } = flags;
  const quiet = silent || json;
  if (shardFlag !== undefined) {
    const shard = parseShard(shardFlag, Deno.env.toObject());
    const outcome = await withAuditHooks("audit", quiet, (hooks) => auditShard(options, shard, hooks));
    if (outcome.stopped) {
      console.error(`audit: stopped; ${outcome.batchesKept} finished batches kept: the same command continues`);
      Deno.exit(130);
    }
    const { record, folder } = outcome;
    const line = `shard ${shard.index}/${shard.count}: batches ${record.batches.first}..${record.batches.end - 1} ` +
      `(${record.images} images) in ${folder}; once every shard is done: deno task merge --out ${options.out}`;
    console.log(json ? JSON.stringify(record) : line);
    return;
  }
  const outcome = await withAuditHooks("audit", quiet, (hooks) => audit(options, hooks));
  const kept = outcome.stopped ? outcome.batchesKept : 0;
  printOutcome(outcome, json, `audit: stopped; ${kept} finished batches kept in ${options.out}: --resume continues`);
}

if (import.meta.main) await runCommand("audit", main);
