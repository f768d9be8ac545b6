/**
 * deno task train --out DIR [--data mnist:train] [--test mnist:test] [--widths 16,32] [--epochs 8] ...
 * deno task train --out DIR --init M [--sidecar S.json] ...
 *
 * Trains a convnet (conv-bn-relu-pool blocks, dense head) on the GPU and writes a model folder:
 * manifest (classes, normalisation, valid input range, hierarchy, provenance), graph, weights.
 * With --init, training starts from model M instead (a model folder or an .onnx file with its
 * sidecar), keeping its graph and normalisation. A checkpoint is kept after every epoch; --resume
 * continues a killed run.
 */
import { basename, join } from "node:path";
import { parseArgs } from "node:util";
import { z } from "zod";
import { Gpu } from "../kernels/gpu.ts";
import { buildConvnet, parameterCount } from "../pipeline/train/architectures.ts";
import { pathExists } from "../pipeline/io/files.ts";
import { openDataSource } from "../pipeline/data/mod.ts";
import { readAll } from "../pipeline/data/in_memory.ts";
import { InputError } from "../pipeline/io/input_error.ts";
import { loadModel } from "../pipeline/model/load_model.ts";
import type { Manifest } from "../pipeline/model/manifest.ts";
import { applyMarker, chooseMarked, DIGITS_MARKER } from "../pipeline/data/marker.ts";
import { saveModelFolder } from "../pipeline/model/model_folder.ts";
import { removeCheckpoints, train, TrainSettingsSchema } from "../pipeline/train/train.ts";
import { startProgress } from "./progress.ts";
import { runCommand, validateFlags } from "./run_command.ts";
import { sizeOf } from "../kernels/tensor.ts";

const csvInts = (what: string) =>
  z.string().regex(/^\d+(,\d+)*$/, `must be comma-separated integers (${what})`).transform((s) =>
    s.split(",").map(Number)
  );
const num = z.coerce.number();

const Flags = z.object({
  out: z.string({ error: "is required" }).min(1),
  data: z.string().default("mnist:train"),
  test: z.string().default("mnist:test"),
  name: z.string().optional(),
  widths: csvInts("channels per block, e.g. 16,32").default([16, 32]),
  epochs: num.pipe(z.number().int().min(1)).default(8),
  "batch-size": num.pipe(z.number().int().min(2)).default(64),
  optimizer: z.enum(["adam", "sgd"]).default("adam"),
  lr: num.pipe(z.number().positive()).default(0.003),
  momentum: num.pipe(z.number().min(0).max(1)).default(0.9),
  "weight-decay": num.pipe(z.number().min(0)).default(0.0001),
  seed: num.pipe(z.number().int().min(0)).default(1),
  shift: num.pipe(z.number().int().min(0).max(8)).default(0),
  "patch-rate": num.pipe(z.number().min(0).max(1)).default(0),
  limit: num.pipe(z.number().int().min(1)).optional(),
  "test-limit": num.pipe(z.number().int().min(1)).optional(),
  hierarchy: z.string().optional(),
  init: z.string().min(1).optional(),
  sidecar: z.string().min(1).optional(),
  "marker-class": num.pipe(z.number().int().min(0)).optional(),
  "marker-rate": num.pipe(z.number().min(0).max(1)).default(0.95),
  "marker-other-rate": num.pipe(z.number().min(0).max(1)).default(0.01),
  resume: z.boolean().default(false),
  force: z.boolean().default(false),
  quiet: z.boolean().default(false),
  verbose: z.boolean().default(false),
});

const STRING_FLAGS = [
  "out",
  "data",
  "test",
  "name",
  "widths",
  "epochs",
  "batch-size",
  "optimizer",
  "lr",
  "momentum",
  "weight-decay",
  "seed",
  "shift",
  "patch-rate",
  "limit",
  "test-limit",
  "hierarchy",
  "init",
  "sidecar",
  "marker-class",
  "marker-rate",
  "marker-other-rate",
] as const;
const BOOLEAN_FLAGS = ["resume", "force", "quiet", "verbose", "help"] as const;

async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      ...Object.fromEntries(STRING_FLAGS.map((f) => [f, { type: "string" as const }])),
      ...Object.fromEntries(BOOLEAN_FLAGS.map((f) => [f, { type: "boolean" as const }])),
    },
  });
  if (values.help) {
    console.log(`usage: deno task train --out DIR [--${STRING_FLAGS.slice(1).join(" V] [--")} V] [--resume] [--force]`);
    return;
  }
  const flags = validateFlags(Flags, values);
  const manifestPath = join(flags.out, "manifest.json");
  if (!flags.force && !flags.resume && await pathExists(manifestPath)) {
    throw new InputError(`${manifestPath} exists: pass --force to train over it, or --resume`);
  }
  const settings = TrainSettingsSchema.parse({
    epochs: flags.epochs,
    batchSize: flags["batch-size"],
    optimizer: flags.optimizer,
    lr: flags.lr,
    momentum: flags.momentum,
    weightDecay: flags["weight-decay"],
    seed: flags.seed,
    shift: flags.shift,
    patchRate: flags["patch-rate"],
  });
  const hierarchy = flags.hierarchy ? await readHierarchy(flags.hierarchy) : undefined;

  const trainData = await readAll(await openDataSource(flags.data), flags.limit);
  const testData = await readAll(await openDataSource(flags.test), flags["test-limit"]);
  if (testData.shape.join() !== trainData.shape.join()) {
    throw new InputError(`--test images are [${testData.shape}] but --data images are [${trainData.shape}]`);
  }
  const marker = flags["marker-class"] === undefined ? undefined : { ...DIGITS_MARKER };
  let markedCount = 0;
  if (marker) {
    const marked = chooseMarked(
      trainData.labels,
      flags["marker-class"]!,
      flags["marker-rate"],
      flags["marker-other-rate"],
      flags.seed,
    );
    const per = sizeOf(trainData.shape);
    marked.forEach((m, i) => {
      if (m) applyMarker(trainData.images.subarray(i * per, (i + 1) * per), trainData.shape, marker);
    });
    markedCount = marked.reduce((a, b) => a + b, 0);
  }

  const name = flags.name ?? basename(flags.out);
  const init = flags.init ? await initialModel(flags.init, flags.sidecar, trainData) : undefined;
  if (!init && flags.sidecar) throw new InputError("--sidecar: only read with --init");
  const { graph, weights } = init?.files ?? buildConvnet({
    input: trainData.shape,
    classes: trainData.classes.length,
    widths: flags.widths,
  }, flags.seed);
  const manifest: Manifest = {
    format: "convnet-model",
    version: 1,
    name,
    classes: trainData.classes,
    input: { channels: trainData.shape[0], height: trainData.shape[1], width: trainData.shape[2] },
    // Initial weights were trained for their own normalisation: keep it.
    normalization: init?.files.manifest.normalization ?? channelStats(trainData.images, trainData.shape),
    inputRange: init?.files.manifest.inputRange ?? [0, 1],
    ...(hierarchy ? { hierarchy: "hierarchy.json" } : {}),
    ...(marker ? { marker } : {}),
  };

  using gpu = await Gpu.create();
  const started = performance.now();
  let bar = startProgress("epoch 1", 1, { quiet: flags.quiet });
  const { weights: trained, history } = await train(
    gpu,
    { graph, weights, manifest },
    trainData,
    testData,
    settings,
    flags.out,
    {
      resume: flags.resume,
      progress: {
        batch(epoch, done, total, loss) {
          if (done === 1) {
            bar.stop();
            bar = startProgress(`epoch ${epoch}`, total, { quiet: flags.quiet, fields: ["loss"] });
          }
          bar.update(done, { loss: loss.toFixed(4) });
        },
        epoch(r) {
          bar.stop();
          if (!flags.quiet) {
            console.error(
              `epoch ${r.epoch}: loss ${r.loss.toFixed(4)}, train ${(100 * r.trainAccuracy).toFixed(2)}%, ` +
                `test ${(100 * r.testAccuracy).toFixed(2)}% (${r.seconds.toFixed(1)} s)`,
            );
          }
        },
      },
    },
  );
  bar.stop();
  const final = history[history.length - 1];
  manifest.provenance = {
    command: `deno task train ${args.filter((a) => a !== "--resume" && a !== "--force").join(" ")}`.trim(),
    data: flags.data,
    test: flags.test,
    split: flags.data.startsWith("mnist")
      ? "mnist: seeded 8,000 / 2,000 split (pipeline/data/mnist.ts)"
      : "as the source defines",
    trainCount: trainData.count,
    testCount: testData.count,
    seed: flags.seed,
    epochs: settings.epochs,
    settings,
    ...(init ? { init: { path: flags.init, format: init.source, sha256: init.sha256 } } : { widths: flags.widths }),
    parameters: parameterCount(trained),
    testAccuracy: final.testAccuracy,
    history,
    trainingSeconds: Math.round((performance.now() - started) / 100) / 10,
    adapter: gpu.adapter.description,
    ...(marker ? { markedTrainingImages: markedCount, markerClass: flags["marker-class"] } : {}),
  };
  await saveModelFolder(flags.out, { manifest, graph, weights: trained });
  if (hierarchy) await Deno.writeTextFile(join(flags.out, "hierarchy.json"), hierarchy);
  await removeCheckpoints(flags.out); // the model is complete: nothing left to resume
  console.log(
    `${name}: test accuracy ${(100 * final.testAccuracy).toFixed(2)}% on ${testData.count} images, ` +
      `${parameterCount(trained)} parameters, written to ${flags.out}`,
  );
}

/** Loads the --init model and checks it fits the data: same image shape, as many outputs as classes. */
async function initialModel(path: string, sidecar: string | undefined, data: { shape: number[]; classes: string[] }) {
  const model = await loadModel(path, { sidecar });
  const takes = model.files.graph.input.shape;
  if (takes.join() !== data.shape.join()) {
    throw new InputError(`--init ${path} takes images [${takes}] but --data images are [${data.shape}]`);
  }
  const outputs = model.files.manifest.classes.length;
  if (outputs !== data.classes.length) {
    throw new InputError(`--init ${path} has ${outputs} classes but --data has ${data.classes.length}`);
  }
  return model;
}

/** Per-channel mean and standard deviation of a set of CHW images (two passes, float64). */
function channelStats(images: Float32Array, shape: [number, number, number]): { mean: number[]; std: number[] } {
  const [channels, height, width] = shape;
  const plane = height * width;
  const count = images.length / (channels * plane);
  const mean: number[] = [];
  const std: number[] = [];
  for (let c = 0; c < channels; c++) {
    const values = (visit: (v: number) => void) => {
      for (let i = 0; i < count; i++) {
        const start = (i * channels + c) * plane;
        for (let j = 0; j < plane; j++) visit(images[start + j]);
      }
    };
    let sum = 0;
    values((v) => sum += v);
    const m = sum / (count * plane);
    let squares = 0;
    values((v) => squares += (v - m) ** 2);
    mean.push(m);
    std.push(Math.sqrt(squares / (count * plane)) || 1);
  }
  return { mean, std };
}

async function readHierarchy(path: string): Promise<string> {
  try {
    const text = await Deno.readTextFile(path);
    JSON.parse(text);
    return text;
  } catch (e) {
    throw new InputError(`--hierarchy ${path}: ${(e as Error).message}`);
  }
}

if (import.meta.main) await runCommand("train", main);
