/**
 * deno task predict --model M --input X.npy [--grad-labels 3,1] --out R.json
 *
 * Writes {"logits": [[...], ...], "inputGradient": [...]} (the gradient only with --grad-labels).
 */
import { parseArgs } from "node:util";
import { z } from "zod";
import { Gpu } from "../kernels/gpu.ts";
import { pathExists, readInputFile } from "../pipeline/data/files.ts";
import { Executor } from "../pipeline/executor.ts";
import { InputError } from "../pipeline/input_error.ts";
import { loadModelFolder, writeAtomic } from "../pipeline/model_folder.ts";
import { readNpy } from "../pipeline/npy.ts";
import { predict } from "../pipeline/predict.ts";
import { runCommand, validateFlags } from "./run_command.ts";

const USAGE = "usage: deno task predict --model DIR --input X.npy [--grad-labels 3,1] --out R.json [--force]";

const Flags = z.object({
  model: z.string({ error: "is required" }).min(1),
  input: z.string({ error: "is required" }).min(1),
  out: z.string({ error: "is required" }).min(1),
  "grad-labels": z.string().regex(/^\d+(,\d+)*$/, "must be comma-separated class indices, e.g. 3,1").optional(),
  force: z.boolean().default(false),
  verbose: z.boolean().default(false),
});

async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      model: { type: "string" },
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
  if (!flags.force && await pathExists(flags.out)) {
    throw new InputError(`${flags.out} exists: pass --force to overwrite it`);
  }
  const model = await loadModelFolder(flags.model);
  const input = readNpy(await readInputFile(flags.input), flags.input);
  const labels = flags["grad-labels"]?.split(",").map(Number);
  using gpu = await Gpu.create();
  using exec = await Executor.create(gpu, model);
  const result = await predict(exec, input, labels);
  await writeAtomic(flags.out, new TextEncoder().encode(JSON.stringify(result)));
}

if (import.meta.main) await runCommand("predict", main);
