/**
 * deno task predict --model M --input X.npy [--grad-labels 3,1] --out R.json
 * deno task predict --model M --summary
 *
 * M is a model folder or an .onnx file (with its sidecar JSON, `M.json` unless --sidecar names one).
 * Writes {"logits": [[...], ...], "inputGradient": [...]} (the gradient only with --grad-labels);
 * --summary prints the graph instead: nodes, output shapes, parameter count, FLOPs per image.
 */
import { z } from "zod";
import { Gpu } from "../kernels/gpu.ts";
import { pathExists, readInputFile, writeAtomic } from "../pipeline/io/files.ts";
import { Executor } from "../pipeline/model/executor.ts";
import { InputError } from "../pipeline/io/input_error.ts";
import { loadModel } from "../pipeline/model/load_model.ts";
import { formatSummary, summarizeModel } from "../pipeline/model/summary.ts";
import { readNpy } from "../pipeline/formats/npy.ts";
import { predict } from "../pipeline/model/predict.ts";
import { parseFlags } from "./flags.ts";
import { runCommand } from "./run_command.ts";

const command = {
  name: "predict",
  summary: "Writes the logits of the images in X.npy (NCHW float32) to R.json, with --grad-labels also the input " +
    "gradient of the mean cross-entropy for those labels; --summary prints the graph instead, and needs neither " +
    "--input nor --out. The sidecar of an .onnx model is FILE.onnx.json unless --sidecar names one.",
  flags: z.object({
    model: z.string({ error: "is required" }).min(1).meta({ value: "DIR|FILE.onnx" }),
    sidecar: z.string().min(1).optional().meta({ value: "S.json" }),
    summary: z.boolean().default(false),
    input: z.string().min(1).optional().meta({ value: "X.npy" }),
    out: z.string().min(1).optional().meta({ value: "R.json" }),
    "grad-labels": z.string().regex(/^\d+(,\d+)*$/, "must be comma-separated class indices, e.g. 3,1").optional()
      .meta({ value: "3,1" }),
    force: z.boolean().default(false),
    verbose: z.boolean().default(false),
  }).superRefine((flags, ctx) => {
    if (flags.summary) return;
    for (const key of ["input", "out"] as const) {
      if (!flags[key]) ctx.addIssue({ code: "custom", path: [key], message: "is required" });
    }
  }),
};

async function main(args: string[]): Promise<void> {
  const flags = parseFlags(command, args);
  if (!flags) return;
  if (flags.summary) {
    const { files, sha256, source } = await loadModel(flags.model, { sidecar: flags.sidecar });
    console.log(`${flags.model} (${source}, sha256 ${sha256})`);
    console.log(formatSummary(summarizeModel(files)));
    return;
  }
  const out = flags.out!;
  if (!flags.force && await pathExists(out)) {
    throw new InputError(`${out} exists: pass --force to overwrite it`);
  }
  const { files } = await loadModel(flags.model, { sidecar: flags.sidecar });
  const input = readNpy(await readInputFile(flags.input!), flags.input!);
  const labels = flags.gradLabels?.split(",").map(Number);
  using gpu = await Gpu.create();
  using exec = await Executor.create(gpu, files);
  const result = await predict(exec, input, labels);
  await writeAtomic(out, new TextEncoder().encode(JSON.stringify(result)));
}

if (import.meta.main) await runCommand("predict", main);
