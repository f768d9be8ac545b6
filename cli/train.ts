/**
 * deno task train --out DIR [--data mnist:train] [--test mnist:test] [--widths 16,32] [--epochs 8] ...
 * deno task train --out DIR --init M [--sidecar S.json] ...
 *
 * Trains a convnet on the GPU and writes a model folder (pipeline/train/train_model.ts), with a
 * progress bar per epoch and a line per finished epoch on stderr. A checkpoint is kept after every
 * epoch; --resume continues a killed run.
 */
import { z } from "zod";
import { trainModel, TrainOptionsSchema } from "../pipeline/train/train_model.ts";
import { numberFlag, parseFlags } from "./flags.ts";
import { SILENT, startProgress } from "./progress.ts";
import { runCommand } from "./run_command.ts";

const option = TrainOptionsSchema.shape;
const csvInts = z.string().regex(/^\d+(,\d+)*$/, "must be comma-separated integers (channels per block, e.g. 16,32)")
  .transform((s) => s.split(",").map(Number));

const command = {
  name: "train",
  summary: "Trains a conv-bn-relu-pool convnet (or, with --init, a given model) on --data, scores it on --test " +
    "after every epoch and writes the model folder --out.",
  flags: z.object({
    out: option.out.meta({ value: "DIR" }),
    data: option.data.meta({ value: "SPEC" }),
    test: option.test.meta({ value: "SPEC" }),
    name: option.name.meta({ value: "NAME" }),
    widths: csvInts.pipe(option.widths.unwrap()).optional().meta({ value: "16,32" }),
    epochs: numberFlag(option.epochs),
    "batch-size": numberFlag(option.batchSize),
    optimizer: option.optimizer,
    lr: numberFlag(option.lr),
    momentum: numberFlag(option.momentum),
    "weight-decay": numberFlag(option.weightDecay),
    seed: numberFlag(option.seed),
    shift: numberFlag(option.shift),
    "patch-rate": numberFlag(option.patchRate),
    limit: numberFlag(option.limit),
    "test-limit": numberFlag(option.testLimit),
    hierarchy: option.hierarchy.meta({ value: "FILE" }),
    init: option.init.meta({ value: "DIR|FILE.onnx" }),
    sidecar: option.sidecar.meta({ value: "S.json" }),
    "marker-class": numberFlag(option.markerClass),
    "marker-rate": numberFlag(option.markerRate),
    "marker-other-rate": numberFlag(option.markerOtherRate),
    "shuffle-labels": option.shuffleLabels,
    resume: option.resume,
    force: option.force,
    quiet: z.boolean().default(false),
    verbose: z.boolean().default(false),
  }),
};

async function main(args: string[]): Promise<void> {
  const flags = parseFlags(command, args);
  if (!flags) return;
  const { quiet, verbose: _, ...options } = flags;
  let bar = SILENT;
  const trained = await trainModel(options, {
    // What the provenance records: the run's flags, less those that only say how to treat the folder.
    command: `deno task train ${args.filter((a) => a !== "--resume" && a !== "--force").join(" ")}`.trim(),
    progress: {
      start() {
        bar = startProgress("epoch 1", 1, { quiet });
      },
      batch(epoch, done, total, loss) {
        if (done === 1) {
          bar.stop();
          bar = startProgress(`epoch ${epoch}`, total, { quiet, fields: ["loss"] });
        }
        bar.update(done, { loss: loss.toFixed(4) });
      },
      epoch(r) {
        bar.stop();
        if (!quiet) {
          console.error(
            `epoch ${r.epoch}: loss ${r.loss.toFixed(4)}, train ${(100 * r.trainAccuracy).toFixed(2)}%, ` +
              `test ${(100 * r.testAccuracy).toFixed(2)}% (${r.seconds.toFixed(1)} s)`,
          );
        }
      },
    },
  }).finally(() => bar.stop());
  console.log(
    `${trained.name}: test accuracy ${(100 * trained.testAccuracy).toFixed(2)}% on ${trained.testCount} images, ` +
      `${trained.parameters} parameters, written to ${trained.folder}`,
  );
}

if (import.meta.main) await runCommand("train", main);
