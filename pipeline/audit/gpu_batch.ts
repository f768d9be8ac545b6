/**
 * A batch on the GPU and what the per-batch audit stages share: the executor, the audit's own
 * kernels (top-k, attack step) and the model's valid input range.
 *
 * @example
 * ```ts
 * import { Gpu } from "../../kernels/gpu.ts";
 * import { Executor } from "../model/executor.ts";
 * import { loadModelFolder } from "../model/model_folder.ts";
 * import type { ImageBatch } from "./batches.ts";
 * declare const hostBatch: ImageBatch;
 * const model = await loadModelFolder("fixtures/models/digits");
 * const exec = await Executor.create(await Gpu.create(), model);
 * const ctx = await createAuditContext(exec, model.manifest.inputRange, 1);
 * using batch = GpuBatch.upload(ctx, hostBatch);
 * ```
 */
import { type AttackIterateKernels, attackIterateKernels } from "../../kernels/attack_iterate.ts";
import { type AttackKernels, attackKernels } from "../../kernels/attack_step.ts";
import { sizeOf } from "../io/size_of.ts";
import type { Tensor } from "../../kernels/tensor.ts";
import { type TopKKernel, topKKernel } from "../../kernels/top_k.ts";
import { bytesPerImage, type Executor } from "../model/executor.ts";
import type { ImageBatch } from "./batches.ts";

/** The executor and kernels every per-batch stage records with. */
export interface AuditContext {
  exec: Executor;
  topK: TopKKernel;
  attack: AttackKernels;
  /** The iterative attacks' kernels (momentum step, masked copy, DLR loss). */
  iterate: AttackIterateKernels;
  /** The model's valid input range; attacks never leave it. */
  range: readonly [number, number];
  /**
   * The seed of the attacks' random starts. Each image's start is drawn from (seed, the image's
   * data index, the restart), so it is the same whatever batch or subset the image is attacked in.
   */
  seed: number;
}

/** Compiles the audit kernels for an executor's device. */
export async function createAuditContext(
  exec: Executor,
  range: readonly [number, number],
  seed: number,
): Promise<AuditContext> {
  const [topK, attack, iterate] = await Promise.all([
    topKKernel(exec.gpu),
    attackKernels(exec.gpu),
    attackIterateKernels(exec.gpu),
  ]);
  return { exec, topK, attack, iterate, range, seed };
}

/** The most images a default batch holds: progress and resume chunks stay frequent. */
const MAX_DEFAULT_BATCH = 64;

/**
 * The batch size used unless one is given, from the adapter's limits: the largest per-batch tensor
 * (the widest activation times the batch) must fit one storage binding, and a forward + input
 * gradient's working set (see `bytesPerImage`: the audit's tapes keep what that backward reads, or
 * one feature) must fit `budget` bytes; at most MAX_DEFAULT_BATCH.
 */
export function defaultBatchSize(exec: Executor, budget = 256 * 2 ** 20): number {
  let widest = 0;
  for (const shape of exec.shapes(1).values()) widest = Math.max(widest, 4 * sizeOf(shape));
  const byBinding = Math.floor(exec.gpu.bindingLimit / widest);
  const byBudget = Math.floor(budget / bytesPerImage(exec, "input-gradient"));
  return Math.max(1, Math.min(MAX_DEFAULT_BATCH, byBinding, byBudget));
}

/** A batch's images and labels on the GPU. Dispose it when the batch's stages are done. */
export class GpuBatch implements Disposable {
  private constructor(
    /** The host batch it was uploaded from. */
    readonly host: ImageBatch,
    /** [B, C, H, W] the clean images. */
    readonly images: Tensor,
    /** u32 [B] */
    readonly labels: Tensor,
  ) {}

  /** Uploads a host batch (optionally only the images at `subset` positions of it). */
  static upload(ctx: AuditContext, host: ImageBatch, subset?: readonly number[]): GpuBatch {
    const picked = subset ? selectImages(host, subset) : host;
    const gpu = ctx.exec.gpu;
    const images = gpu.tensor([picked.count, ...picked.shape], picked.images);
    const labels = gpu.tensor([picked.count], picked.labels, "u32");
    return new GpuBatch(picked, images, labels);
  }

  get count(): number {
    return this.host.count;
  }

  dispose(): void {
    this.images.dispose();
    this.labels.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** The images at positions `subset` of a batch, as a batch of their own. */
export function selectImages(batch: ImageBatch, subset: readonly number[]): ImageBatch {
  const per = batch.images.length / batch.count;
  const images = new Float32Array(subset.length * per);
  subset.forEach((p, i) => images.set(batch.images.subarray(p * per, (p + 1) * per), i * per));
  return {
    indices: subset.map((p) => batch.indices[p]),
    images,
    labels: Int32Array.from(subset, (p) => batch.labels[p]),
    count: subset.length,
    shape: batch.shape,
  };
}
