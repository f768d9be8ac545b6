/**
 * GPU memory and throughput of one model at one batch size: peak GPU bytes per image of a forward
 * pass and of a forward + input-gradient backward (the loss gradient's tape, which keeps only what
 * backward reads, and a tape keeping every value), buffers created per batch once warm, and
 * images/s of forward + backward with the buffer pool reused across batches and with it emptied
 * after each batch (every buffer created again, as without a pool).
 *
 *   deno run --config deno.dev.json --allow-all bench/memory.ts --model resnet50.onnx [--batch 2] [--runs 3]
 *
 * `memoryFigures` is the same measurement for another table (bench/run.ts's families).
 */
import { parseArgs } from "node:util";
import { Gpu, peakBytesPerImage } from "../kernels/gpu.ts";
import { sizeOf } from "../pipeline/io/size_of.ts";
import { bytesPerImage, type ExecutableModel, Executor } from "../pipeline/model/executor.ts";
import { recordCrossEntropyGradient } from "../pipeline/model/loss.ts";
import { importOnnx } from "../pipeline/model/onnx/mod.ts";
import { randomValues } from "./case.ts";

/** What `memoryFigures` measures; bytes are per image, rates in images per second. */
export interface MemoryFigures {
  batch: number;
  forwardPeak: number;
  /** Forward + input gradient with the loss gradient's tape (what backward reads). */
  backwardPeak: number;
  /** The same with a tape keeping every value (what explanations use). */
  backwardPeakFullTape: number;
  /** What `bytesPerImage` predicts for the two tapes (the batch-size planner's figure). */
  replayed: { trimmed: number; full: number };
  /** GPU buffers created by one warm forward + backward batch (0 when the pool reuses them all). */
  creationsPerWarmBatch: number;
  /** Forward + backward images/s, best of the runs, with the pool reused and emptied between batches. */
  imagesPerSecond: { pooled: number; unpooled: number };
}

/** Measures a model's memory and forward + backward throughput at `batch` images (see the module doc). */
export async function memoryFigures(gpu: Gpu, model: ExecutableModel, batch: number, runs = 3): Promise<MemoryFigures> {
  using exec = await Executor.create(gpu, model);
  const shape = [batch, ...model.graph.input.shape];
  using x = gpu.tensor(shape, randomValues(sizeOf(shape), 12).map((v) => 0.5 + 0.5 * v));
  using labels = gpu.tensor([batch], Array.from({ length: batch }, (_, i) => i), "u32");
  const forwardPeak = await peakBytesPerImage(gpu, batch, async () => {
    let y!: ReturnType<typeof exec.forward>;
    await gpu.run((step) => (y = exec.forward(step, x)));
    await gpu.read(y);
    y.dispose();
  });
  const gradientBatch = async () => {
    let result!: ReturnType<typeof recordCrossEntropyGradient>;
    await gpu.run((step) => (result = recordCrossEntropyGradient(step, exec, x, labels)));
    await gpu.readMany([result.logits, result.grads.input!]);
    result[Symbol.dispose]();
  };
  const backwardPeak = await peakBytesPerImage(gpu, batch, gradientBatch);
  const backwardPeakFullTape = await peakBytesPerImage(gpu, batch, async () => {
    let result!: ReturnType<typeof recordCrossEntropyGradient>;
    await gpu.run((step) => (result = recordCrossEntropyGradient(step, exec, x, labels, { keepAll: true })));
    await gpu.read(result.grads.input!);
    result[Symbol.dispose]();
  });
  const created = gpu.memory.creations;
  await gradientBatch();
  const creationsPerWarmBatch = gpu.memory.creations - created;
  const rate = async (trim: boolean) => {
    let best = Infinity;
    for (let r = 0; r < runs; r++) {
      if (trim) gpu.pool.trim();
      const start = performance.now();
      await gradientBatch();
      best = Math.min(best, (performance.now() - start) / 1000);
    }
    return batch / best;
  };
  const imagesPerSecond = { pooled: await rate(false), unpooled: await rate(true) };
  const replayed = { trimmed: bytesPerImage(exec, "input-gradient"), full: bytesPerImage(exec, "all") };
  return { batch, forwardPeak, backwardPeak, backwardPeakFullTape, replayed, creationsPerWarmBatch, imagesPerSecond };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      model: { type: "string" },
      batch: { type: "string", default: "2" },
      runs: { type: "string", default: "3" },
    },
  });
  if (!values.model) throw new Error("--model FILE.onnx is required");
  const imported = await importOnnx(await Deno.readFile(values.model), { source: values.model, folder: "." });
  const model = {
    ...imported,
    manifest: { normalization: { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] } },
  };
  const gpu = await Gpu.create();
  const f = await memoryFigures(gpu, model, Number(values.batch), Number(values.runs));
  const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
  console.log(
    `${values.model} [${imported.input}], batch ${f.batch}, on ${gpu.adapter.description} (${gpu.adapter.backend})`,
  );
  console.log(
    `  peak GPU bytes per image: forward ${mb(f.forwardPeak)}; forward + input gradient ${mb(f.backwardPeak)}` +
      ` (tape keeping every value: ${mb(f.backwardPeakFullTape)})`,
  );
  console.log(`  replayed by bytesPerImage: ${mb(f.replayed.trimmed)} (every value kept: ${mb(f.replayed.full)})`);
  console.log(`  buffers created by a warm batch: ${f.creationsPerWarmBatch}`);
  console.log(
    `  forward + backward: ${f.imagesPerSecond.pooled.toFixed(3)} images/s pooled, ` +
      `${f.imagesPerSecond.unpooled.toFixed(3)} images/s with the pool emptied after each batch`,
  );
  gpu.destroy();
}
