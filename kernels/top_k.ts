/**
 * Top-k per row of a [B, C] tensor: the k largest values and their column indices (u32), largest
 * first, ties broken towards the lower index. For top-1/top-5 accuracy and mistake taxonomies.
 *
 * @example
 * ```ts
 * import { Gpu } from "./gpu.ts";
 * const gpu = await Gpu.create();
 * const kernel = await topKKernel(gpu);
 * const x = gpu.tensor([1, 4], [0.1, 0.7, 0.1, 0.1]);
 * const values = gpu.tensor([1, 2]), indices = gpu.tensor([1, 2], undefined, "u32");
 * await gpu.run((step) => recordTopK(step, kernel, { x, k: 2, values, indices }));
 * console.log(await gpu.read(values), await gpu.readU32(indices)); // [0.7, 0.1] [1, 0]
 * ```
 */
import tgpu from "typegpu";
import * as d from "typegpu/data";
import { elementGrid, type Gpu, type Step } from "./gpu.ts";
import { defineKernel, type Kernel, readWgsl } from "./kernel.ts";
import { LOOP_CHUNK, loopChunks } from "./loop_limit.ts";
import { checkSizes, checkU32, type TensorLike } from "./tensor.ts";

/** Largest k the kernel supports (MAX_K in top_k.wgsl). */
export const TOP_K_MAX = 10;
const ROWS_PER_WORKGROUP = 64;

/** start .. end - 1: the columns one dispatch scans. */
const TopKParams = d.struct({ B: d.u32, C: d.u32, k: d.u32, start: d.u32, end: d.u32 }).$name("TopKParams");

const layout = tgpu.bindGroupLayout({
  params: { uniform: TopKParams },
  x: { storage: d.arrayOf(d.f32), access: "readonly" },
  values: { storage: d.arrayOf(d.f32), access: "mutable" },
  indices: { storage: d.arrayOf(d.u32), access: "mutable" },
});

export const topKSpec = defineKernel("top_k", layout, readWgsl(import.meta.url, "top_k.wgsl"));

export type TopKKernel = Kernel<typeof layout.entries>;

/** Compiles the top-k kernel on a device (cached). */
export function topKKernel(gpu: Gpu): Promise<TopKKernel> {
  return gpu.kernel(topKSpec);
}

export interface TopKArgs {
  /** [B, C] */
  x: TensorLike;
  /** 1 <= k <= min(C, TOP_K_MAX). */
  k: number;
  /** [B, k], overwritten, largest first. */
  values: TensorLike;
  /** u32 [B, k], overwritten: the column of each value. */
  indices: TensorLike;
}

/** Records the k largest values of each row of x and their indices. */
export function recordTopK(step: Step, kernel: TopKKernel, args: TopKArgs): void {
  const { x, k, values, indices } = args;
  if (x.shape.length !== 2) throw new Error(`top_k: x must be [B, C], got [${x.shape}]`);
  const [B, C] = x.shape;
  if (!Number.isInteger(k) || k < 1 || k > Math.min(C, TOP_K_MAX)) {
    throw new Error(`top_k: k must be an integer in [1, ${Math.min(C, TOP_K_MAX)}] for ${C} columns, got ${k}`);
  }
  checkSizes("top_k", { values: [values, [B, k]], indices: [indices, [B, k]] });
  checkU32("top_k", "indices", indices);
  // Each column costs a back edge of the scan and up to k + 1 of the insertion.
  for (const { start, end } of loopChunks(C, Math.floor(LOOP_CHUNK / (k + 2)))) {
    step.dispatch(kernel, { params: { B, C, k, start, end }, x, values, indices }, elementGrid(B, ROWS_PER_WORKGROUP));
  }
}
