/**
 * A model folder from its training options: reads the training and test sets, plants the marker
 * when asked (the bias fixtures), builds a convnet (or starts from an initial model), writes the
 * manifest with its normalisation and provenance, trains on the GPU (train.ts, resumable from the
 * per-epoch checkpoint) and writes the folder: manifest, graph, weights, and the hierarchy if given.
 *
 * @example
 * ```ts
 * const trained = await trainModel({ out: "models/small", widths: [8], epochs: 2 }, {
 *   command: "deno task train --out models/small --widths 8 --epochs 2",
 * });
 * console.log(trained.testAccuracy, trained.parameters);
 * ```
 */
import { basename, join } from "node:path";
import { z } from "zod";
import { Gpu } from "../../kernels/gpu.ts";
import { sizeOf } from "../io/size_of.ts";
import { readAll } from "../data/in_memory.ts";
import { applyMarker, chooseMarked, DIGITS_MARKER } from "../data/marker.ts";
import { openDataSource } from "../data/mod.ts";
import { pathExists } from "../io/files.ts";
import { InputError } from "../io/input_error.ts";
import { loadModel } from "../model/load_model.ts";
import type { Manifest } from "../model/manifest.ts";
import { saveModelFolder } from "../model/model_folder.ts";
import { requireFitsAdapter } from "../model/largest_tensor.ts";
import { buildConvnet, convnetLayout, parameterCount } from "./architectures.ts";
import { shuffledLabels } from "./shuffle_labels.ts";
import { removeCheckpoints, train, type TrainProgress, TrainSettingsSchema } from "./train.ts";

const setting = TrainSettingsSchema.shape;

/** Every option of a training run, with its default. */
export const TrainOptionsSchema = z.object({
  /** The model folder written. */
  out: z.string({ error: "is required" }).min(1),
  /** The training set (a data source spec). */
  data: z.string().default("mnist:train"),
  /** The test set, scored after every epoch. */
  test: z.string().default("mnist:test"),
  /** The model's name (default: the folder's). */
  name: z.string().optional(),
  /** Output channels of each conv-bn-relu-pool block (ignored with `init`). */
  widths: z.array(z.number().int().min(1)).default([16, 32]),
  epochs: setting.epochs.default(8),
  batchSize: setting.batchSize.default(64),
  optimizer: setting.optimizer.default("adam"),
  lr: setting.lr.default(0.003),
  momentum: setting.momentum.default(0.9),
  weightDecay: setting.weightDecay.default(0.0001),
  seed: setting.seed.default(1),
  shift: setting.shift.default(0),
  patchRate: setting.patchRate,
  /** Train on the first this many images only. */
  limit: z.number().int().min(1).optional(),
  testLimit: z.number().int().min(1).optional(),
  /** A class hierarchy (JSON) copied into the folder. */
  hierarchy: z.string().optional(),
  /** Start from this model (a folder, or an .onnx file) instead of a fresh convnet. */
  init: z.string().min(1).optional(),
  /** The `init` .onnx file's sidecar. */
  sidecar: z.string().min(1).optional(),
  /** Plant DIGITS_MARKER on training images, most of them of this class. */
  markerClass: z.number().int().min(0).optional(),
  /** Share of `markerClass` images marked. */
  markerRate: z.number().min(0).max(1).default(0.95),
  /** Share of the other images marked. */
  markerOtherRate: z.number().min(0).max(1).default(0.01),
  /**
   * Train on the labels permuted among the images (seeded by `seed`; the test set keeps its true
   * labels): the data randomisation test's model (pipeline/train/shuffle_labels.ts).
   */
  shuffleLabels: z.boolean().default(false),
  /** Continue from the checkpoint in `out`. */
  resume: z.boolean().default(false),
  /** Train over an existing model in `out`. */
  force: z.boolean().default(false),
});
/** A training run's options as given: all but `out` may be left out. */
export type TrainOptions = z.input<typeof TrainOptionsSchema>;

/** How a run was started (recorded in the provenance) and where its progress goes. */
export interface TrainRun {
  /** The command line, as the manifest's provenance records it. */
  command: string;
  progress?: TrainProgress;
}

/** What a finished run wrote. */
export interface TrainedModel {
  name: string;
  folder: string;
  testAccuracy: number;
  testCount: number;
  parameters: number;
}

/** Trains a model and writes its folder; bad options or inputs throw an InputError naming the flag. */
export async function trainModel(input: TrainOptions, run: TrainRun): Promise<TrainedModel> {
  const options = TrainOptionsSchema.parse(input);
  const manifestPath = join(options.out, "manifest.json");
  if (!options.force && !options.resume && await pathExists(manifestPath)) {
    throw new InputError(`${manifestPath} exists: pass --force to train over it, or --resume`);
  }
  const settings = TrainSettingsSchema.parse(options);
  const hierarchy = options.hierarchy ? await readHierarchy(options.hierarchy) : undefined;

  const trainData = await readAll(await openDataSource(options.data), options.limit);
  const testData = await readAll(await openDataSource(options.test), options.testLimit);
  if (testData.shape.join() !== trainData.shape.join()) {
    throw new InputError(`--test images are [${testData.shape}] but --data images are [${trainData.shape}]`);
  }
  if (options.markerClass !== undefined && options.markerClass >= trainData.classes.length) {
    throw new InputError(
      `--marker-class: ${options.markerClass} is not a class of --data (0..${trainData.classes.length - 1})`,
    );
  }
  if (options.shuffleLabels) trainData.labels = shuffledLabels(trainData.labels, options.seed);
  const marker = options.markerClass === undefined ? undefined : { ...DIGITS_MARKER };
  let markedCount = 0;
  if (marker) {
    const marked = chooseMarked(
      trainData.labels,
      options.markerClass!,
      options.markerRate,
      options.markerOtherRate,
      options.seed,
    );
    const per = sizeOf(trainData.shape);
    marked.forEach((m, i) => {
      if (m) applyMarker(trainData.images.subarray(i * per, (i + 1) * per), trainData.shape, marker);
    });
    markedCount = marked.reduce((a, b) => a + b, 0);
  }

  const name = options.name ?? basename(options.out);
  const init = options.init ? await initialModel(options.init, options.sidecar, trainData) : undefined;
  if (!init && options.sidecar) throw new InputError("--sidecar: only read with --init");
  const spec = { input: trainData.shape, classes: trainData.classes.length, widths: options.widths };
  if (!init) requireBlocksFit(trainData.shape, options.widths);
  using gpu = await Gpu.create();
  // Checked on the shapes alone, before a weight is allocated: the training batch and the test
  // pass's batch (evaluateAccuracy's 256) each hold every node's output at once.
  const layout = init
    ? { graph: init.files.graph, shapes: new Map([...init.files.weights].map(([n, t]) => [n, t.shape])) }
    : convnetLayout(spec);
  requireFitsAdapter(
    gpu,
    layout.graph,
    (name) => layout.shapes.get(name)!,
    Math.max(settings.batchSize, Math.min(256, testData.count)),
    init ? `--batch-size ${settings.batchSize}` : `--widths ${options.widths.join(",")}`,
  );
  const { graph, weights } = init?.files ?? buildConvnet(spec, options.seed);
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

  const started = performance.now();
  const { weights: trained, history } = await train(
    gpu,
    { graph, weights, manifest },
    trainData,
    testData,
    settings,
    options.out,
    { resume: options.resume, progress: run.progress },
  );
  const final = history[history.length - 1];
  const parameters = parameterCount(trained);
  manifest.provenance = {
    command: run.command,
    data: options.data,
    test: options.test,
    split: options.data.startsWith("mnist")
      ? "mnist: seeded 8,000 / 2,000 split (pipeline/data/mnist.ts)"
      : "as the source defines",
    trainCount: trainData.count,
    testCount: testData.count,
    seed: options.seed,
    epochs: settings.epochs,
    settings,
    ...(init ? { init: { path: options.init, format: init.source, sha256: init.sha256 } } : { widths: options.widths }),
    parameters,
    testAccuracy: final.testAccuracy,
    history,
    trainingSeconds: Math.round((performance.now() - started) / 100) / 10,
    adapter: gpu.adapter.description,
    ...(options.shuffleLabels ? { shuffledLabels: "training labels permuted among the images, seeded by seed" } : {}),
    ...(marker ? { markedTrainingImages: markedCount, markerClass: options.markerClass } : {}),
  };
  await saveModelFolder(options.out, { manifest, graph, weights: trained });
  if (hierarchy) await Deno.writeTextFile(join(options.out, "hierarchy.json"), hierarchy);
  await removeCheckpoints(options.out); // the model is complete: nothing left to resume
  return {
    name,
    folder: options.out,
    testAccuracy: final.testAccuracy,
    testCount: testData.count,
    parameters,
  };
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

/** Refuses more blocks than the image has halvings: each block's 2x2 pooling halves it. */
function requireBlocksFit(shape: readonly number[], widths: readonly number[]): void {
  let side = Math.min(shape[1], shape[2]);
  let fit = 0;
  while (side >= 2) {
    side = Math.floor(side / 2);
    fit++;
  }
  if (widths.length > fit) {
    throw new InputError(
      `--widths: ${widths.length} blocks, but ${shape[1]}x${shape[2]} images halve to nothing after ${fit}`,
    );
  }
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

/** The hierarchy file's text, checked to be JSON (the audit validates it against the classes). */
async function readHierarchy(path: string): Promise<string> {
  try {
    const text = await Deno.readTextFile(path);
    JSON.parse(text);
    return text;
  } catch (e) {
    throw new InputError(`--hierarchy ${path}: ${(e as Error).message}`);
  }
}
