/**
 * Training on the GPU: seeded shuffled mini-batches, forward + mean cross-entropy + backward +
 * optimiser step recorded as one command encoder per batch, a checkpoint after every epoch.
 *
 * Everything random is derived from (seed, epoch), so a run resumed from the checkpoint of epoch
 * e reaches the same weights as one that never stopped: the checkpoint holds the weights, the
 * running statistics and the optimiser moments, and the epoch it completed.
 */
import { join } from "node:path";
import { z } from "zod";
import type { Gpu } from "../../kernels/gpu.ts";
import { type OptimizerConfig, optimizerKernel, recordOptimizerStep } from "../../kernels/optimizer.ts";
import { sizeOf } from "../io/size_of.ts";
import type { Tensor } from "../../kernels/tensor.ts";
import { argmaxRows } from "../model/argmax.ts";
import { mulberry32, seededPermutation } from "../io/prng.ts";
import { Executor } from "../model/executor.ts";
import type { Graph } from "../model/graph.ts";
import type { InMemoryData } from "../data/in_memory.ts";
import { InputError } from "../io/input_error.ts";
import { recordCrossEntropyGradient } from "../model/loss.ts";
import { applyMarker } from "../data/marker.ts";
import type { Manifest } from "../model/manifest.ts";
import { writeAtomic } from "../io/files.ts";
import type { HostTensor } from "../model/model_files.ts";
import { readSafetensors, writeSafetensors } from "../formats/safetensors.ts";
import { nonFiniteTensor, requireFiniteWeights } from "../model/finite_weights.ts";

export const TrainSettingsSchema = z.object({
  epochs: z.number().int().min(1).max(100_000),
  batchSize: z.number().int().min(2).max(4096),
  optimizer: z.enum(["adam", "sgd"]),
  lr: z.number().positive(),
  momentum: z.number().min(0).max(1),
  weightDecay: z.number().min(0),
  seed: z.number().int().min(0).max(2 ** 32 - 1),
  /** Largest random translation in pixels applied to each training image (0 = none). */
  shift: z.number().int().min(0).max(8),
  /**
   * Share of training images that get a 4x4 square of 1.0 at a random place: teaches the model that
   * an isolated bright square is not evidence for any class, so a planted marker finds no ally.
   */
  patchRate: z.number().min(0).max(1).default(0),
});
export type TrainSettings = z.infer<typeof TrainSettingsSchema>;

export interface EpochReport {
  epoch: number;
  loss: number;
  trainAccuracy: number;
  testAccuracy: number;
  seconds: number;
}

export interface TrainProgress {
  /** Called once the data is read, as the training (kernels, checkpoint) starts. */
  start?(): void;
  /** Called after every batch of an epoch. */
  batch?(epoch: number, done: number, total: number, loss: number): void;
  /** Called after every epoch, once its checkpoint is on disk. */
  epoch?(report: EpochReport): void;
}

const STATE_FILE = "checkpoint.json";

const CheckpointState = z.object({
  epoch: z.number().int().min(1),
  folder: z.string(),
  settings: TrainSettingsSchema,
  history: z.array(z.object({
    epoch: z.number(),
    loss: z.number(),
    trainAccuracy: z.number(),
    testAccuracy: z.number(),
    seconds: z.number(),
  })),
});
type CheckpointState = z.infer<typeof CheckpointState>;

/** The optimiser configuration at a step of a cosine-decayed schedule. */
function optimizerAt(settings: TrainSettings, step: number, totalSteps: number): OptimizerConfig {
  const lr = settings.lr * 0.5 * (1 + Math.cos(Math.PI * step / totalSteps));
  return settings.optimizer === "adam"
    ? { kind: "adam", lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: settings.weightDecay }
    : { kind: "sgd", lr, momentum: settings.momentum, weightDecay: settings.weightDecay };
}

/**
 * Copies image `src` of `data` into `out` translated by (dy, dx) pixels, zero-filled at the edges.
 */
function shiftedImage(data: InMemoryData, src: number, dy: number, dx: number, out: Float32Array, at: number): void {
  const [channels, height, width] = data.shape;
  const per = channels * height * width;
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < height; y++) {
      const sy = y - dy;
      for (let x = 0; x < width; x++) {
        const sx = x - dx;
        const inside = sy >= 0 && sy < height && sx >= 0 && sx < width;
        out[at + (c * height + y) * width + x] = inside ? data.images[src * per + (c * height + sy) * width + sx] : 0;
      }
    }
  }
}

const PATCH_SIZE = 4;

/** Stamps a PATCH_SIZE square of 1.0 at a uniformly random place inside a CHW image. */
function stampRandomPatch(image: Float32Array, shape: readonly number[], random: () => number): void {
  const [, height, width] = shape;
  const top = Math.floor(random() * (height - PATCH_SIZE + 1));
  const left = Math.floor(random() * (width - PATCH_SIZE + 1));
  applyMarker(image, shape, { rows: [top, top + PATCH_SIZE - 1], columns: [left, left + PATCH_SIZE - 1], value: 1 });
}

/** Top-1 accuracy of a model over an in-memory set (inference mode). */
export async function evaluateAccuracy(exec: Executor, data: InMemoryData, batchSize = 256): Promise<number> {
  const gpu = exec.gpu;
  const per = sizeOf(data.shape);
  let correct = 0;
  for (let start = 0; start < data.count; start += batchSize) {
    const n = Math.min(batchSize, data.count - start);
    using x = gpu.tensor([n, ...data.shape], data.images.subarray(start * per, (start + n) * per));
    let logits!: Tensor;
    await gpu.run((step) => {
      logits = exec.forward(step, x);
    });
    using _ = logits;
    const predicted = argmaxRows(await gpu.read(logits), n);
    for (let i = 0; i < n; i++) if (predicted[i] === data.labels[start + i]) correct++;
  }
  return correct / data.count;
}

/** Model folder contents the trainer starts from and writes to. */
export interface TrainModel {
  graph: Graph;
  weights: Map<string, HostTensor>;
  manifest: Manifest;
}

/**
 * Trains `model` in place on the GPU and returns the final weights and the epoch history.
 * With `resume`, continues from the last checkpoint in `outDir` (made with the same settings).
 */
export async function train(
  gpu: Gpu,
  model: TrainModel,
  trainData: InMemoryData,
  testData: InMemoryData,
  settings: TrainSettings,
  outDir: string,
  options: { resume?: boolean; progress?: TrainProgress } = {},
): Promise<{ weights: Map<string, HostTensor>; history: EpochReport[] }> {
  options.progress?.start?.();
  await Deno.mkdir(outDir, { recursive: true });
  const resumed = options.resume ? await loadCheckpoint(outDir, settings) : null;
  const weights = resumed?.weights ?? model.weights;
  using exec = await Executor.create(gpu, { ...model, weights });
  const opt = await optimizerKernel(gpu);
  const moments = new Map<string, { first: Tensor; second: Tensor }>();
  for (const [name, t] of exec.params) {
    if (/running_(mean|var)$/.test(name)) continue;
    const first = resumed?.moments.get(`${name}.first`);
    const second = resumed?.moments.get(`${name}.second`);
    moments.set(name, {
      first: first ? gpu.tensor(t.shape, first.data) : gpu.zeros(t.shape),
      second: second ? gpu.tensor(t.shape, second.data) : gpu.zeros(t.shape),
    });
  }
  const history: EpochReport[] = resumed?.state.history ?? [];
  const per = sizeOf(trainData.shape);
  const { batchSize } = settings;
  const batches = Math.floor(trainData.count / batchSize); // the last partial batch is dropped
  if (batches === 0) {
    throw new InputError(`training set of ${trainData.count} is smaller than one batch (${batchSize})`);
  }
  const totalSteps = batches * settings.epochs;
  const batchImages = new Float32Array(batchSize * per);
  using x = gpu.tensor([batchSize, ...trainData.shape]);
  using labels = gpu.tensor([batchSize], undefined, "u32");

  try {
    for (let epoch = (resumed?.state.epoch ?? 0) + 1; epoch <= settings.epochs; epoch++) {
      const started = performance.now();
      const order = seededPermutation(trainData.count, (settings.seed * 1000003 + epoch) >>> 0);
      const random = mulberry32((settings.seed * 7919 + epoch * 104729) >>> 0);
      let lossSum = 0;
      let correct = 0;
      for (let b = 0; b < batches; b++) {
        const batchLabels = new Uint32Array(batchSize);
        for (let i = 0; i < batchSize; i++) {
          const src = order[b * batchSize + i];
          const s = settings.shift;
          const dy = s ? Math.floor(random() * (2 * s + 1)) - s : 0;
          const dx = s ? Math.floor(random() * (2 * s + 1)) - s : 0;
          shiftedImage(trainData, src, dy, dx, batchImages, i * per);
          if (settings.patchRate > 0 && random() < settings.patchRate) {
            stampRandomPatch(batchImages.subarray(i * per, (i + 1) * per), trainData.shape, random);
          }
          batchLabels[i] = trainData.labels[src];
        }
        gpu.write(x, batchImages);
        gpu.write(labels, batchLabels);
        const t = (epoch - 1) * batches + b + 1;
        const config = optimizerAt(settings, t - 1, totalSteps);
        let result!: ReturnType<typeof recordCrossEntropyGradient>;
        await gpu.run((step) => {
          result = recordCrossEntropyGradient(step, exec, x, labels, {
            input: false,
            params: true,
            loss: true,
            training: true,
          });
          for (const [name, grad] of result.grads.params) {
            const m = moments.get(name)!;
            recordOptimizerStep(step, opt, {
              weight: exec.params.get(name)!,
              grad,
              first: m.first,
              second: m.second,
              t,
              config,
            });
          }
        });
        using _ = result;
        const [lossBytes, logitBytes] = await gpu.readMany([result.loss!, result.logits]);
        const losses = new Float32Array(lossBytes);
        const predicted = argmaxRows(new Float32Array(logitBytes), batchSize);
        let batchLoss = 0;
        for (let i = 0; i < batchSize; i++) {
          batchLoss += losses[i];
          if (predicted[i] === batchLabels[i]) correct++;
        }
        // The losses are read back anyway: a NaN or infinity stops the run before any checkpoint.
        if (!Number.isFinite(batchLoss)) {
          throw new Error(
            `the training loss became ${batchLoss} at epoch ${epoch}, batch ${b + 1} of ${batches}; ` +
              `no model written (a smaller --lr may help)`,
          );
        }
        lossSum += batchLoss;
        options.progress?.batch?.(epoch, b + 1, batches, batchLoss / batchSize);
      }
      const testAccuracy = await evaluateAccuracy(exec, testData);
      const report: EpochReport = {
        epoch,
        loss: lossSum / (batches * batchSize),
        trainAccuracy: correct / (batches * batchSize),
        testAccuracy,
        seconds: (performance.now() - started) / 1000,
      };
      history.push(report);
      const epochWeights = await exec.readParams();
      // The last batch's update is in no loss read yet: the weights are checked before they are saved.
      const nonFinite = nonFiniteTensor(epochWeights);
      if (nonFinite) {
        throw new Error(
          `the weights became non-finite at epoch ${epoch} (${nonFinite}); no model written (a smaller --lr may help)`,
        );
      }
      await saveCheckpoint(outDir, exec, epochWeights, moments, {
        epoch,
        folder: `checkpoint-${epoch}`,
        settings,
        history,
      });
      options.progress?.epoch?.(report);
    }
    return { weights: await exec.readParams(), history };
  } finally {
    for (const m of moments.values()) {
      m.first.dispose();
      m.second.dispose();
    }
  }
}

async function saveCheckpoint(
  outDir: string,
  exec: Executor,
  weights: Map<string, HostTensor>,
  moments: Map<string, { first: Tensor; second: Tensor }>,
  state: CheckpointState,
): Promise<void> {
  const folder = join(outDir, state.folder);
  await Deno.mkdir(folder, { recursive: true });
  await writeAtomic(join(folder, "weights.safetensors"), writeSafetensors(weights));
  const momentTensors = new Map<string, HostTensor>();
  for (const [name, m] of moments) {
    momentTensors.set(`${name}.first`, { shape: [...m.first.shape], data: await exec.gpu.read(m.first) });
    momentTensors.set(`${name}.second`, { shape: [...m.second.shape], data: await exec.gpu.read(m.second) });
  }
  await writeAtomic(join(folder, "optimizer.safetensors"), writeSafetensors(momentTensors));
  // The state file names the complete checkpoint folder; it is replaced only once that is on disk.
  await writeAtomic(join(outDir, STATE_FILE), new TextEncoder().encode(JSON.stringify(state, null, 2)));
  for await (const entry of Deno.readDir(outDir)) {
    if (entry.isDirectory && entry.name.startsWith("checkpoint-") && entry.name !== state.folder) {
      await Deno.remove(join(outDir, entry.name), { recursive: true });
    }
  }
}

/** Removes the checkpoint of a finished run (its state file and folder). */
export async function removeCheckpoints(outDir: string): Promise<void> {
  await Deno.remove(join(outDir, STATE_FILE)).catch(() => {});
  for await (const entry of Deno.readDir(outDir)) {
    if (entry.isDirectory && entry.name.startsWith("checkpoint-")) {
      await Deno.remove(join(outDir, entry.name), { recursive: true });
    }
  }
}

async function loadCheckpoint(
  outDir: string,
  settings: TrainSettings,
): Promise<{ state: CheckpointState; weights: Map<string, HostTensor>; moments: Map<string, HostTensor> } | null> {
  const statePath = join(outDir, STATE_FILE);
  let text: string;
  try {
    text = await Deno.readTextFile(statePath);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null; // nothing to resume: start afresh
    throw e;
  }
  const parsed = CheckpointState.safeParse(JSON.parse(text));
  if (!parsed.success) throw new InputError(`${statePath}: not a valid checkpoint state`);
  const state = parsed.data;
  if (JSON.stringify(state.settings) !== JSON.stringify(settings)) {
    throw new InputError(`${statePath}: the checkpoint was made with other settings; start afresh without --resume`);
  }
  const read = async (file: string) => {
    const path = join(outDir, state.folder, file);
    const map = new Map<string, HostTensor>();
    for (const [name, t] of readSafetensors(await Deno.readFile(path), path)) {
      map.set(name, { shape: t.shape, data: t.data });
    }
    requireFiniteWeights(map, path); // written finite: anything else was changed on disk
    return map;
  };
  return { state, weights: await read("weights.safetensors"), moments: await read("optimizer.safetensors") };
}
