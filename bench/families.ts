/**
 * The torchvision families at 224x224 (torchvision's own models, 1,000 classes, seeded random
 * weights, exported by tests/torchvision_families.py): per family, our forward and forward +
 * backward (the input gradient of the mean cross-entropy, as the audit takes it) in images/s,
 * beside onnxruntime-node's forward on the same ONNX file and PyTorch's CPU forward + backward on
 * the same weights, each interleaved with ours in this run; the measured peak of live GPU bytes per
 * image over a forward + input gradient (kernels/gpu.ts's high-water mark); and our logits' and input gradient's errors against PyTorch's at that size. A family
 * that does not import is listed with the importer's first error line.
 */
import { type Gpu, peakBytesPerImage } from "../kernels/gpu.ts";
import { Executor } from "../pipeline/model/executor.ts";
import { loadModel } from "../pipeline/model/load_model.ts";
import { recordCrossEntropyGradient } from "../pipeline/model/loss.ts";
import {
  crossEntropyPass,
  type ExportEntry,
  exportFamilies,
  familyFiles,
  firstLine,
  readArray,
  relativeL2,
  relativeMaxError,
} from "../tests/torchvision_families.ts";
import type { BenchCase, Runner } from "./case.ts";
import { measure, type Measured } from "./measure.ts";
import { ortRunner } from "./peers/ort.ts";
import { pytorchRunner } from "./peers/pytorch.ts";
import type { GpuTimer } from "./timer.ts";

/** One family's row: its figures, or why it has none. */
export type FamilyRow =
  & { family: string }
  & (
    | { error: string }
    | {
      variant: string;
      batch: number;
      parameters: number;
      forward: Measured;
      backward: Measured;
      /** Measured high-water mark of live GPU bytes per image over one forward + input gradient. */
      peakBytesPerImage: number;
      /** max |ours - PyTorch| / max |PyTorch| over the logits of the exporter's 2 images. */
      logitError: number;
      /** ||ours - PyTorch||_2 / ||PyTorch||_2 of their input gradients. */
      gradientError: number;
      /** The same for PyTorch's own float32 gradient: what float32 arithmetic reaches on this model. */
      float32Floor: number;
    }
  );

/** The high-water mark of live GPU bytes per image while one of our runs records and completes. */
async function measuredPeak(gpu: Gpu, batch: number, start: () => Promise<Runner>): Promise<number> {
  using runner = await start();
  return await peakBytesPerImage(gpu, batch, async () => {
    await runner.run();
  });
}

/** `count` images: the exporter's 2, repeated. */
function tiled(x: Float32Array, count: number): Float32Array {
  const out = new Float32Array((x.length / 2) * count);
  for (let at = 0; at < out.length; at += x.length) out.set(x.subarray(0, Math.min(x.length, out.length - at)), at);
  return out;
}

/** Images normalised as the executor normalises them first (ONNX Runtime runs the file as exported). */
function normalised(x: Float32Array, chw: readonly number[], mean: number[], std: number[]): Float32Array {
  const plane = chw[1] * chw[2];
  return x.map((v, i) => {
    const c = Math.floor(i / plane) % chw[0];
    return (v - mean[c]) / std[c];
  });
}

/** Exports `families` at full scale and measures each as the module says, one family on the GPU at a time. */
export async function familyBench(
  gpu: Gpu,
  timer: GpuTimer,
  families: readonly string[],
  options: { batch: number; runs: number; log: (line: string) => void },
): Promise<FamilyRow[]> {
  const { batch, runs, log } = options;
  log(`  families: exporting ${families.join(", ")} at 224x224 with PyTorch...`);
  const { dir, entries } = await exportFamilies("full", families);
  const rows: FamilyRow[] = [];
  for (const family of families) {
    log(`  families: ${family}`);
    try {
      rows.push(await familyRow(gpu, timer, dir, family, entries[family], batch, runs));
    } catch (e) {
      rows.push({ family, error: firstLine(e) });
    }
  }
  return rows;
}

async function familyRow(
  gpu: Gpu,
  timer: GpuTimer,
  dir: string,
  family: string,
  entry: ExportEntry,
  batch: number,
  runs: number,
): Promise<FamilyRow> {
  if ("error" in entry) return { family, error: `PyTorch export: ${entry.error}` };
  const files = familyFiles(dir, family);
  const { files: model } = await loadModel(files.onnx);
  using exec = await Executor.create(gpu, model);
  const x = await readArray(files.x);
  const check = await crossEntropyPass(exec, x, entry.labels);
  const logitError = relativeMaxError(check.logits, await readArray(files.logits));
  const gradientError = relativeL2(check.gradient, await readArray(files.grad));

  const chw = model.graph.input.shape;
  const shape = [batch, ...chw];
  const images = tiled(x, batch);
  const labels = Array.from({ length: batch }, (_, i) => entry.labels[i % entry.labels.length]);
  const { mean, std } = model.manifest.normalization;
  const onnxBytes = await Deno.readFile(files.onnx);
  const ours = (pass: "forward" | "backward") => (): Promise<Runner> => {
    const input = gpu.tensor(shape, images);
    const labelTensor = gpu.tensor([batch], labels, "u32");
    return Promise.resolve({
      run: () =>
        timer.time((step) =>
          pass === "forward"
            ? exec.forward(step, input)
            : recordCrossEntropyGradient(step, exec, input, labelTensor, { input: true })
        ),
      [Symbol.dispose]: () => [input, labelTensor].forEach((t) => t.dispose()),
    });
  };
  const common = { group: "family", shape: `${family} 224x224, batch ${batch}`, flops: 0, bytes: 0 };
  const forwardCase: BenchCase = {
    ...common,
    name: "forward",
    start: ours("forward"),
    peer: {
      name: "onnxruntime-node (CPU)",
      start: () => ortRunner(onnxBytes, "image", normalised(images, chw, mean, std), shape),
    },
  };
  const backwardCase: BenchCase = {
    ...common,
    name: "forward + input gradient",
    start: ours("backward"),
    peer: { name: "PyTorch CPU", start: () => pytorchRunner(family, batch) },
  };
  const peak = await measuredPeak(gpu, batch, ours("backward"));
  return {
    family,
    variant: entry.variant,
    batch,
    parameters: entry.parameters,
    forward: await measure(forwardCase, runs),
    backward: await measure(backwardCase, runs),
    peakBytesPerImage: peak,
    logitError,
    gradientError,
    float32Floor: entry.float32Floor,
  };
}

const imagesPerSecond = (batch: number, timing: { ms: number } | { error: string } | undefined) =>
  timing && !("error" in timing) ? batch / (timing.ms / 1000) : NaN;

/** The per-family table: images/s of ours and the peers, their ratios, peak bytes, errors. */
export function familyTable(rows: FamilyRow[]): string {
  const fixed = (v: number, digits: number) => (Number.isFinite(v) ? v.toFixed(digits) : "-");
  const header = [
    "family",
    "fwd img/s",
    "ORT fwd",
    "ratio",
    "fwd+bwd img/s",
    "PyTorch fwd+bwd",
    "ratio",
    "peak MB/img",
    "logit err",
    "grad err",
    "PyTorch f32 grad err",
  ];
  const table = [header];
  const failed: string[] = [];
  for (const row of rows) {
    if ("error" in row) {
      failed.push(`  ${row.family}: ${row.error}`);
      continue;
    }
    const f = imagesPerSecond(row.batch, row.forward.ours);
    const fo = imagesPerSecond(row.batch, row.forward.peer);
    const b = imagesPerSecond(row.batch, row.backward.ours);
    const bp = imagesPerSecond(row.batch, row.backward.peer);
    table.push([
      row.family,
      fixed(f, 2),
      fixed(fo, 2),
      `${fixed(f / fo, 3)}x`,
      fixed(b, 2),
      fixed(bp, 2),
      `${fixed(b / bp, 3)}x`,
      fixed(row.peakBytesPerImage / 2 ** 20, 0),
      row.logitError.toExponential(1),
      row.gradientError.toExponential(1),
      row.float32Floor.toExponential(1),
    ]);
  }
  const widths = header.map((_, i) => Math.max(...table.map((r) => r[i].length)));
  const lines = table.map((r) => r.map((v, i) => (i === 0 ? v.padEnd(widths[i]) : v.padStart(widths[i]))).join("  "));
  const notes = [
    "ratio: ours / the peer's images/s (above 1, ours is faster); fwd+bwd: the input gradient of the mean " +
    "cross-entropy, parameters frozen, on both sides",
    "peak MB/img: the high-water mark of live GPU buffers during one forward + input gradient, per image",
    "logit err: max |ours - PyTorch| / max |PyTorch| on 2 images; grad err: relative L2 (PyTorch in float64); " +
    "PyTorch f32 grad err: PyTorch's own float32 gradient's, what float32 arithmetic reaches",
  ];
  const errors = failed.length ? ["", "families that did not run:", ...failed] : [];
  const runs = rows.flatMap((row) =>
    "error" in row ? [] : [row.forward, row.backward].flatMap((m) => [
      ...("error" in m.ours ? [`  ${row.family}: ours, ${m.case.name}: ${m.ours.error}`] : []),
      ...(m.peer && "error" in m.peer ? [`  ${row.family}: ${m.peer.name}: ${m.peer.error}`] : []),
    ])
  );
  return [...lines, ...notes, ...errors, ...(runs.length ? ["", "runs that failed:", ...runs] : [])].join("\n");
}
