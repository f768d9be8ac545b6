/**
 * deno task predict --model M --input X.npy [--grad-labels 3,1] --out R.json
 * deno task predict --model M --summary
 *
 * M is a model folder or an .onnx file (with its sidecar JSON, `M.json` unless --sidecar names one).
 * Writes {"logits": [[...], ...], "inputGradient": [...]} (the gradient only with --grad-labels);
 * --summary prints the graph instead: nodes, output shapes, parameter count, FLOPs per image.
 */
import { z } from "zod";
import { predictFile } from "../pipeline/model/predict.ts";
import { describeModel } from "../pipeline/model/summary.ts";
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
    console.log(await describeModel(flags.model, { sidecar: flags.sidecar }));
    return;
  }
  await predictFile({
    model: flags.model,
    sidecar: flags.sidecar,
    input: flags.input!,
    out: flags.out!,
    gradLabels: flags.gradLabels?.split(",").map(Number),
    force: flags.force,
  });
}

if (import.meta.main) await runCommand("predict", main);
