/**
 * The explanation bench: wall-clock milliseconds per image of each saliency method as the audit's
 * explanation stage calls it (`computeSaliency` with its defaults: the forward and backward passes,
 * the host's share, the readback), on the digits model and on the ResNet-18-shaped net at 224x224
 * (random weights: the cost does not depend on them). Best of `runs` after a warm-up call per
 * model; the slow methods at 224x224 (SmoothGrad, IG, occlusion) run once on one image. The
 * machine's load average is recorded before and after, beside the adapter and its backend.
 */
import type { AdapterReport, Gpu } from "../kernels/gpu.ts";
import { sizeOf } from "../pipeline/io/size_of.ts";
import { computeSaliency, SALIENCY_METHODS, type SaliencyMethod } from "../pipeline/explain/saliency.ts";
import { type ExecutableModel, Executor } from "../pipeline/model/executor.ts";
import { ranOnLine } from "../pipeline/report/ran_on.ts";
import { randomValues } from "./case.ts";

/** One model and method's figure. */
export interface ExplainFigures {
  model: string;
  method: SaliencyMethod;
  images: number;
  runs: number;
  /** Best run's wall time over its images. */
  msPerImage: number;
  /** Images (or samples, or patched images) per forward pass, as the memory budget allowed. */
  imagesPerPass: number;
}

/** A model to explain, and how many images per call of a quick and of a slow method. */
export interface ExplainModel {
  label: string;
  model: ExecutableModel;
  images: number;
  /** Methods run once on one image (at ImageNet size, minutes each). */
  slow: readonly SaliencyMethod[];
}

/** Every method on every model (see the module comment). */
export async function explainBench(gpu: Gpu, models: readonly ExplainModel[], runs: number): Promise<ExplainFigures[]> {
  const out: ExplainFigures[] = [];
  for (const { label, model, images, slow } of models) {
    using exec = await Executor.create(gpu, model);
    const per = sizeOf(model.graph.input.shape);
    const pixels = randomValues(images * per, 21).map((v) => 0.5 + 0.5 * v);
    await computeSaliency(exec, pixels.subarray(0, per), 1, { method: "gradient" }); // compiles the kernels
    for (const method of SALIENCY_METHODS) {
      const [count, tries] = slow.includes(method) ? [1, 1] : [images, runs];
      let best = Infinity, imagesPerPass = 0;
      for (let r = 0; r < tries; r++) {
        const t0 = performance.now();
        const result = await computeSaliency(exec, pixels.subarray(0, count * per), count, { method });
        best = Math.min(best, performance.now() - t0);
        imagesPerPass = result.imagesPerPass;
      }
      out.push({ model: label, method, images: count, runs: tries, msPerImage: best / count, imagesPerPass });
    }
  }
  return out;
}

/** The figures as a table, headed by the adapter, its backend and the load average around the run. */
export function explainTable(
  figures: readonly ExplainFigures[],
  adapter: AdapterReport,
  load: { before: number[]; after: number[] },
): string {
  const avg = (l: number[]) => l.map((v) => v.toFixed(2)).join(", ");
  const rows = [["model", "method", "images", "runs", "ms / image", "per pass"]];
  for (const f of figures) {
    rows.push([f.model, f.method, String(f.images), String(f.runs), f.msPerImage.toFixed(1), String(f.imagesPerPass)]);
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return [
    `explanations: ran on ${ranOnLine(adapter)}`,
    `load average (1, 5, 15 min) before ${avg(load.before)}, after ${avg(load.after)}; wall time, best of runs`,
    ...rows.map((r) => r.map((v, c) => (c < 2 ? v.padEnd(widths[c]) : v.padStart(widths[c]))).join("  ")),
  ].join("\n");
}
