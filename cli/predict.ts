/**
 * deno task predict --model M --input X.npy [--grad-labels 3,1] --out R.json
 * deno task predict --model M --summary
 *
 * M is a model folder or an .onnx file (with its sidecar JSON, `M.json` unless --sidecar names one).
 * Writes {"logits": [[...], ...], "inputGradient": [...]} (the gradient only with --grad-labels);
 * --summary prints the graph instead: nodes, output shapes, parameter count, FLOPs per image.
 */
import { parseArgs } from "node:util";
import { z } from "zod";
import { Gpu } from "../kernels/gpu.ts";
import { pathExists, readInputFile, writeAtomic } from "../pipeline/io/files.ts";
import { Executor } from "../pipeline/model/executor.ts";
import { InputError } from "../pipeline/io/input_error.ts";
import { loadModel } from "../pipeline/model/load_model.ts";
import { formatSummary, summarizeModel } from "../pipeline/model/summary.ts";
import { readNpy } from "../pipeline/formats/npy.ts";
import { predict } from "../pipeline/model/predict.ts";
import { runCommand, validateFlags } from "./run_command.ts";

const USAGE = "usage: deno task predict --model DIR|FILE.onnx [--sidecar S.json] " +
  "(--input X.npy [--grad-labels 3,1] --out R.json [--force] | --summary)";

const Flags = z.object({
  model: z.string({ error: "is required" }).min(1),
  sidecar: z.string().min(1).optional(),
  summary: z.boolean().default(false),
  input: z.string().min(1).optional(),
  out: z.string().min(1).optional(),
  "grad-labels": z.string().regex(/^\d+(,\d+)*$/, "must be comma-separated class indices, e.g. 3,1").optional(),
  force: z.boolean().default(false),
  verbose: z.boolean().default(false),
}).superRefine((flags, ctx) => {
  if (flags.summary) return;
  for (const key of ["input", "out"] as const) {
    if (!flags[key]) ctx.addIssue({ code: "custom", path: [key], message: "is required" });
  }
});

async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      model: { type: "string" },
      sidecar: { type: "string" },
      summary: { type: "boolean" },
      input: { type: "string" },
      out: { type: "string" },
      "grad-labels": { type: "string" },
      force: { type: "boolean" },
      verbose: { type: "boolean" },
      help: { type: "boolean" },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const flags = validateFlags(Flags, values);
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
  const labels = flags["grad-labels"]?.split(",").map(Number);
  using gpu = await Gpu.create();
  using exec = await Executor.create(gpu, files);
  const result = await predict(exec, input, labels);
  await writeAtomic(out, new TextEncoder().encode(JSON.stringify(result)));
}

if (import.meta.main) await runCommand("predict", main);
