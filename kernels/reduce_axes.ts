/**
 * Sum, mean and max of a tensor of any rank along any set of axes, and their backwards: the
 * gradient broadcast back (scaled by 1/count for a mean), or routed to the maximum's position.
 *
 * @example
 * ```ts
 * import { Gpu } from "./gpu.ts";
 * const gpu = await Gpu.create();
 * const kernels = await reduceAxesKernels(gpu);
 * const x = gpu.tensor([2, 3], [1, 2, 3, 4, 5, 6]);
 * const y = gpu.tensor([2]);
 * await gpu.run((step) => recordReduce(step, kernels, { x, y, axes: [1], kind: "mean" }));
 * console.log(await gpu.read(y)); // [2, 5]
 * ```
 */
import tgpu from "typegpu";
import * as d from "typegpu/data";
import { elementGrid, type Gpu, type Step } from "./gpu.ts";
import { defineKernel, type Kernel, type KernelSpec, readWgsl, specializeConstants } from "./kernel.ts";
import { LOOP_CHUNK, loopChunks } from "./loop_limit.ts";
import { checkSizes, checkU32, sizeOf, type TensorLike } from "./tensor.ts";

/** Most kept (or reduced) axes after neighbouring axes of one kind are merged. */
export const REDUCE_MAX_AXES = 8;

const Axes = d.arrayOf(d.vec4u, REDUCE_MAX_AXES / 4);

const ReduceParams = d.struct({
  count: d.u32,
  keptRank: d.u32,
  reducedRank: d.u32,
  reducedSize: d.u32,
  /** The reduced positions a forward walks in this dispatch: reducedStart .. reducedEnd - 1. */
  reducedStart: d.u32,
  reducedEnd: d.u32,
  scale: d.f32,
  keptSizes: Axes,
  keptStrides: Axes,
  keptOutStrides: Axes,
  reducedSizes: Axes,
  reducedStrides: Axes,
}).$name("ReduceParams");

const layout = tgpu.bindGroupLayout({
  params: { uniform: ReduceParams },
  x: { storage: d.arrayOf(d.f32), access: "readonly" },
  argmaxIn: { storage: d.arrayOf(d.u32), access: "readonly" },
  out: { storage: d.arrayOf(d.f32), access: "mutable" },
  argmaxOut: { storage: d.arrayOf(d.u32), access: "mutable" },
});

const OP = { sum: 0, max: 1, broadcastBack: 2, maxBack: 3 } as const;
type ReduceOp = keyof typeof OP;
const ops = Object.keys(OP) as ReduceOp[];
const code = readWgsl(import.meta.url, "reduce_axes.wgsl");

/** One kernel per op, the op folded in as a constant. */
export const reduceAxesSpecs = Object.fromEntries(
  ops.map((op) => [op, defineKernel(`reduce_${op}`, layout, specializeConstants(code, { OP: OP[op] }))]),
) as Record<ReduceOp, KernelSpec<typeof layout.entries>>;

/** The compiled reduction kernels, one per op. */
export type ReduceAxesKernels = Record<ReduceOp, Kernel<typeof layout.entries>>;

/** Compiles the reduction kernels on a device (cached). */
export async function reduceAxesKernels(gpu: Gpu): Promise<ReduceAxesKernels> {
  const kernels = await Promise.all(ops.map((op) => gpu.kernel(reduceAxesSpecs[op])));
  return Object.fromEntries(ops.map((op, i) => [op, kernels[i]])) as ReduceAxesKernels;
}

/** What a reduction computes. */
export type ReduceKind = "sum" | "mean" | "max";

/** A shape split into merged kept and reduced axes, each with its input stride. */
interface ReduceGeometry {
  kept: { size: number; stride: number; outStride: number }[];
  reduced: { size: number; stride: number }[];
  inputSize: number;
  outputSize: number;
  reducedSize: number;
}

/**
 * Splits `shape` into kept and reduced axes (`axes`: distinct, in [0, rank)), merging neighbours
 * of one kind so that any rank fits the kernel's REDUCE_MAX_AXES of each.
 */
export function reduceGeometry(shape: readonly number[], axes: readonly number[]): ReduceGeometry {
  const reducedSet = new Set(axes);
  if (reducedSet.size !== axes.length || axes.some((a) => !Number.isInteger(a) || a < 0 || a >= shape.length)) {
    throw new Error(`reduce: axes [${axes}] must be distinct axes of [${shape}]`);
  }
  // Merged runs, innermost first: [size, reduced?]
  const runs: { size: number; reduced: boolean; stride: number }[] = [];
  let stride = 1;
  for (let a = shape.length - 1; a >= 0; a--) {
    const reduced = reducedSet.has(a);
    const last = runs[runs.length - 1];
    if (shape[a] === 1) continue; // a unit axis changes no offset, whichever its kind
    if (last && last.reduced === reduced) last.size *= shape[a];
    else runs.push({ size: shape[a], reduced, stride });
    stride *= shape[a];
  }
  runs.reverse();
  const keptRuns = runs.filter((r) => !r.reduced);
  const reducedRuns = runs.filter((r) => r.reduced);
  if (keptRuns.length > REDUCE_MAX_AXES || reducedRuns.length > REDUCE_MAX_AXES) {
    throw new Error(`reduce: [${shape}] along [${axes}] splits into more than ${REDUCE_MAX_AXES} runs of axes`);
  }
  let outStride = 1;
  const kept = keptRuns.reverse().map((r) => {
    const axis = { size: r.size, stride: r.stride, outStride };
    outStride *= r.size;
    return axis;
  }).reverse();
  return {
    kept,
    reduced: reducedRuns.map(({ size, stride }) => ({ size, stride })),
    inputSize: sizeOf(shape),
    outputSize: outStride,
    reducedSize: sizeOf(reducedRuns.map((r) => r.size)),
  };
}

function packed(values: number[]): d.Infer<typeof Axes> {
  const all = [...values, ...new Array(REDUCE_MAX_AXES - values.length).fill(0)];
  return [d.vec4u(all[0], all[1], all[2], all[3]), d.vec4u(all[4], all[5], all[6], all[7])];
}

function dispatch(
  step: Step,
  kernel: Kernel<typeof layout.entries>,
  geometry: ReduceGeometry,
  count: number,
  scale: number,
  tensors: { x: TensorLike; out: TensorLike; argmaxIn?: TensorLike; argmaxOut?: TensorLike },
  /** Whether the kernel walks the reduced axes (sum and max forward) rather than one value per element. */
  forward: boolean,
): void {
  const { kept, reduced } = geometry;
  // An unused writable slot needs a buffer of its own: one buffer may not be read-only and writable at once.
  using spare = tensors.argmaxOut ? undefined : step.alloc([1]);
  // A forward's loop walks the reduced axes once per position: pieces keep it under llvmpipe's limit.
  const pieces = forward
    ? loopChunks(geometry.reducedSize, Math.floor(LOOP_CHUNK / (reduced.length + 1)))
    : [{ start: 0, end: 0 }];
  for (const { start, end } of pieces) {
    step.dispatch(kernel, {
      params: {
        count,
        keptRank: kept.length,
        reducedRank: reduced.length,
        reducedSize: geometry.reducedSize,
        reducedStart: start,
        reducedEnd: end,
        scale,
        keptSizes: packed(kept.map((a) => a.size)),
        keptStrides: packed(kept.map((a) => a.stride)),
        keptOutStrides: packed(kept.map((a) => a.outStride)),
        reducedSizes: packed(reduced.map((a) => a.size)),
        reducedStrides: packed(reduced.map((a) => a.stride)),
      },
      x: tensors.x,
      argmaxIn: tensors.argmaxIn ?? tensors.x,
      out: tensors.out,
      argmaxOut: tensors.argmaxOut ?? spare!,
    }, elementGrid(count));
  }
}

export interface ReduceArgs {
  /** Any rank. */
  x: TensorLike;
  /** x's shape with the reduced axes removed or kept as 1 (the same values either way), overwritten. */
  y: TensorLike;
  axes: readonly number[];
  kind: ReduceKind;
  /** u32, one per output element, overwritten with the input index of the maximum; required for max. */
  argmax?: TensorLike;
}

/** Records y = sum, mean or max of x along `axes` (and, for max, where each maximum is). */
export function recordReduce(step: Step, kernels: ReduceAxesKernels, args: ReduceArgs): void {
  const geometry = reduceGeometry(args.x.shape, args.axes);
  checkSizes(`reduce_${args.kind}`, { y: [args.y, geometry.outputSize] });
  if (args.kind === "max") {
    if (!args.argmax) throw new Error("reduce_max: argmax is required");
    checkU32("reduce_max", "argmax", args.argmax);
    checkSizes("reduce_max", { argmax: [args.argmax, geometry.outputSize] });
    dispatch(
      step,
      kernels.max,
      geometry,
      geometry.outputSize,
      1,
      { x: args.x, out: args.y, argmaxOut: args.argmax },
      true,
    );
    return;
  }
  const scale = args.kind === "mean" ? 1 / geometry.reducedSize : 1;
  dispatch(step, kernels.sum, geometry, geometry.outputSize, scale, { x: args.x, out: args.y }, true);
}

export interface ReduceBackwardArgs {
  /** The output gradient, one value per output element. */
  dy: TensorLike;
  /** The input gradient, in the forward input's shape (the axes are read from it), overwritten. */
  dx: TensorLike;
  axes: readonly number[];
  kind: ReduceKind;
  /** The forward's argmax, for max. */
  argmax?: TensorLike;
}

/**
 * Records dx: dy broadcast back along `axes` (divided by the count for a mean), or for max dy at
 * each output's first maximum and 0 elsewhere.
 */
export function recordReduceBackward(step: Step, kernels: ReduceAxesKernels, args: ReduceBackwardArgs): void {
  const geometry = reduceGeometry(args.dx.shape, args.axes);
  checkSizes(`reduce_${args.kind} backward`, { dy: [args.dy, geometry.outputSize] });
  if (args.kind === "max") {
    if (!args.argmax) throw new Error("reduce_max backward: argmax is required");
    dispatch(step, kernels.maxBack, geometry, geometry.inputSize, 1, {
      x: args.dy,
      out: args.dx,
      argmaxIn: args.argmax,
    }, false);
    return;
  }
  const scale = args.kind === "mean" ? 1 / geometry.reducedSize : 1;
  dispatch(step, kernels.broadcastBack, geometry, geometry.inputSize, scale, { x: args.dy, out: args.dx }, false);
}
