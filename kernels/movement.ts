/**
 * The strided-copy kernel every movement op records (movement.wgsl): a gather over an iteration
 * space with per-axis source and destination strides, an optional sum over a second space (an
 * expand's backward), or a fill with a constant.
 *
 * @example
 * ```ts
 * import { Gpu } from "./gpu.ts";
 * const gpu = await Gpu.create();
 * const kernel = await movementKernel(gpu);
 * const x = gpu.tensor([2, 3], [1, 2, 3, 4, 5, 6]);
 * const y = gpu.tensor([3, 2]);
 * // y = x transposed: walk y's [3, 2] space, reading x with strides [1, 3].
 * await gpu.run((step) =>
 *   recordStridedCopy(step, kernel, {
 *     src: x,
 *     dst: y,
 *     dims: [3, 2],
 *     srcStrides: [1, 3],
 *     dstStrides: contiguousStrides([3, 2]),
 *   })
 * );
 * console.log(await gpu.read(y)); // [1, 4, 2, 5, 3, 6]
 * ```
 */
import tgpu from "typegpu";
import * as d from "typegpu/data";
import { elementGrid, type Gpu, type Step } from "./gpu.ts";
import { defineKernel, type Kernel, readWgsl, specializeConstants } from "./kernel.ts";
import { LOOP_CHUNK, loopChunks } from "./loop_limit.ts";
import type { TensorLike } from "./tensor.ts";

/** Axes the kernel walks at most (after merging contiguous axes and dropping axes of extent 1). */
export const MAX_MOVEMENT_RANK = 8;

/** Points of the innermost axis one invocation walks (PER in movement.wgsl). */
const PER_INVOCATION = 8;

const MovementParams = d.struct({
  /** Invocations: rows of the innermost axis times `chunks`. */
  count: d.u32,
  chunks: d.u32,
  reduceRank: d.u32,
  /** The points of the reduce space a sum adds in this dispatch: reduceStart .. reduceEnd - 1. */
  reduceStart: d.u32,
  reduceEnd: d.u32,
  srcBase: d.i32,
  dstBase: d.i32,
  value: d.f32,
  dims: d.arrayOf(d.vec4u, 2),
  srcStrides: d.arrayOf(d.vec4i, 2),
  dstStrides: d.arrayOf(d.vec4i, 2),
  reduceDims: d.arrayOf(d.vec4u, 2),
  reduceStrides: d.arrayOf(d.vec4i, 2),
}).$name("MovementParams");

const layout = tgpu.bindGroupLayout({
  params: { uniform: MovementParams },
  src: { storage: d.arrayOf(d.f32), access: "readonly" },
  dst: { storage: d.arrayOf(d.f32), access: "mutable" },
});

const code = readWgsl(import.meta.url, "movement.wgsl");
const MODES = { copy: 0, fill: 1, sum: 2 } as const;
const spec = (name: string, rank: number, mode: keyof typeof MODES) =>
  defineKernel(name, layout, specializeConstants(code, { RANK: rank, MODE: MODES[mode] }));

/**
 * The strided-copy pipelines: copies one per iteration rank (index rank - 1), the rank folded in
 * as a constant (see specializeConstants); fills and sums, which are rare, one each at the most axes.
 */
export const movementSpecs = {
  copy: Array.from({ length: MAX_MOVEMENT_RANK }, (_, i) => spec(`strided_copy_rank${i + 1}`, i + 1, "copy")),
  fill: spec("strided_fill", MAX_MOVEMENT_RANK, "fill"),
  sum: spec("strided_sum", MAX_MOVEMENT_RANK, "sum"),
};

type MovementPipeline = Kernel<typeof layout.entries>;

/** The compiled strided-copy pipelines. */
export interface MovementKernel {
  copy: MovementPipeline[];
  fill: MovementPipeline;
  sum: MovementPipeline;
}

/** Compiles the strided-copy kernels on a device (cached). */
export async function movementKernel(gpu: Gpu): Promise<MovementKernel> {
  const [fill, sum, ...copy] = await Promise.all(
    [movementSpecs.fill, movementSpecs.sum, ...movementSpecs.copy].map((s) => gpu.kernel(s)),
  );
  return { copy, fill, sum };
}

/** Row-major strides of a shape: the last axis moves by 1. */
export function contiguousStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let step = 1;
  for (let a = shape.length - 1; a >= 0; a--) {
    strides[a] = step;
    step *= shape[a];
  }
  return strides;
}

/** One strided copy: see movement.wgsl for what it computes. */
export interface StridedCopyArgs {
  /** Read from; absent when filling `dst` with `value`. */
  src?: TensorLike;
  dst: TensorLike;
  /** The iteration space, outermost axis first. */
  dims: readonly number[];
  srcStrides?: readonly number[];
  srcOffset?: number;
  dstStrides: readonly number[];
  dstOffset?: number;
  /** A space summed over at every point (its source strides); absent for a copy. */
  reduce?: { dims: readonly number[]; strides: readonly number[] };
  /** Added to every point (the fill value when there is no `src`); default 0. */
  value?: number;
}

/** Axes with their strides, extent-1 axes dropped and neighbours that walk memory as one merged. */
function mergeAxes(dims: readonly number[], strides: readonly (readonly number[])[]): [number[], number[][]] {
  const outDims: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  dims.forEach((n, a) => {
    if (n === 1) return;
    const last = outDims.length - 1;
    if (last >= 0 && strides.every((s, j) => outStrides[j][last] === s[a] * n)) {
      outDims[last] *= n;
      strides.forEach((s, j) => (outStrides[j][last] = s[a]));
      return;
    }
    outDims.push(n);
    strides.forEach((s, j) => outStrides[j].push(s[a]));
  });
  return [outDims, outStrides];
}

/** The least and greatest offset a strided walk reaches. */
function reach(offset: number, dims: readonly number[], strides: readonly number[]): [number, number] {
  let [lo, hi] = [offset, offset];
  dims.forEach((n, a) => {
    const span = (n - 1) * strides[a];
    if (span < 0) lo += span;
    else hi += span;
  });
  return [lo, hi];
}

function packed<T>(values: readonly number[], make: (a: number, b: number, c: number, e: number) => T): T[] {
  const v = [...values, ...new Array(2 * 4 - values.length).fill(0)];
  return [make(v[0], v[1], v[2], v[3]), make(v[4], v[5], v[6], v[7])];
}

/**
 * Records one strided copy. Throws an Error naming the kernel when the walk would leave a tensor or
 * needs more than MAX_MOVEMENT_RANK axes.
 */
export function recordStridedCopy(step: Step, kernel: MovementKernel, args: StridedCopyArgs): void {
  const count = args.dims.reduce((a, b) => a * b, 1);
  if (count === 0) return;
  const srcStrides = args.srcStrides ?? args.dims.map(() => 0);
  const [merged, [mergedSrc, mergedDst]] = mergeAxes(args.dims, [srcStrides, args.dstStrides]);
  const mode = !args.src ? "fill" : args.reduce ? "sum" : "copy";
  // Fills and sums walk MAX_MOVEMENT_RANK axes (leading ones of extent 1); a copy at least one.
  const lead = mode === "copy" ? Math.max(0, 1 - merged.length) : MAX_MOVEMENT_RANK - merged.length;
  const ones = (v: number) => new Array(Math.max(0, lead)).fill(v);
  const [dims, src, dst] = [[...ones(1), ...merged], [...ones(0), ...mergedSrc], [...ones(0), ...mergedDst]];
  const [reduceDims, [reduceStrides]] = mergeAxes(args.reduce?.dims ?? [], [args.reduce?.strides ?? []]);
  if (merged.length > MAX_MOVEMENT_RANK || reduceDims.length > MAX_MOVEMENT_RANK) {
    throw new Error(`strided_copy: [${args.dims}] needs more than ${MAX_MOVEMENT_RANK} axes after merging`);
  }
  const srcOffset = args.srcOffset ?? 0;
  const dstOffset = args.dstOffset ?? 0;
  const [dLo, dHi] = reach(dstOffset, dims, dst);
  if (dLo < 0 || dHi >= args.dst.size) {
    throw new Error(`strided_copy: writes [${dLo}, ${dHi}] outside dst [${args.dst.shape}]`);
  }
  if (args.src) {
    const [lo, hi] = reach(srcOffset, dims, src);
    const [rLo, rHi] = reach(0, reduceDims, reduceStrides);
    if (lo + rLo < 0 || hi + rHi >= args.src.size) {
      throw new Error(`strided_copy: reads [${lo + rLo}, ${hi + rHi}] outside src [${args.src.shape}]`);
    }
  }
  const inner = dims[dims.length - 1];
  // A sum walks one point of dst per invocation, its reduce space in pieces whose loops (each point
  // walks the reduce axes) stay under llvmpipe's limit; a copy or fill PER_INVOCATION points.
  const chunks = mode === "sum" ? inner : Math.ceil(inner / PER_INVOCATION);
  const invocations = (count / inner) * chunks;
  const reduceCount = reduceDims.reduce((a, b) => a * b, 1);
  const pieces = mode === "sum"
    ? loopChunks(reduceCount, Math.floor(LOOP_CHUNK / (reduceDims.length + 1)))
    : [{ start: 0, end: 0 }];
  for (const { start, end } of pieces) {
    step.dispatch(mode === "copy" ? kernel.copy[dims.length - 1] : kernel[mode], {
      params: {
        count: invocations,
        chunks,
        reduceRank: reduceDims.length,
        reduceStart: start,
        reduceEnd: end,
        srcBase: srcOffset,
        dstBase: dstOffset,
        value: args.value ?? 0,
        dims: packed(dims, d.vec4u),
        srcStrides: packed(src, d.vec4i),
        dstStrides: packed(dst, d.vec4i),
        reduceDims: packed(reduceDims, d.vec4u),
        reduceStrides: packed(reduceStrides, d.vec4i),
      },
      src: args.src ?? step.placeholder,
      dst: args.dst,
    }, elementGrid(invocations));
  }
}
