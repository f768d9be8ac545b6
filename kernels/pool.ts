/**
 * 2-D pooling on NCHW tensors: max pooling (with the argmax input index of each output, as u32)
 * and average pooling (count_include_pad or not), forward and backward, and global average
 * pooling [N, C, H, W] -> [N, C]. Windows may pad each side differently, dilate, and keep a
 * partial last window (ceil mode). Backwards gather, so they are deterministic.
 *
 * @example
 * ```ts
 * import { Gpu } from "./gpu.ts";
 * const gpu = await Gpu.create();
 * const kernels = await poolKernels(gpu);
 * const window = { kernelHeight: 2, kernelWidth: 2, strideH: 2, strideW: 2, padH: 0, padW: 0 };
 * const x = gpu.tensor([1, 1, 2, 2], [1, 4, 3, 2]);
 * const y = gpu.tensor([1, 1, 1, 1]);
 * const argmax = gpu.tensor([1, 1, 1, 1], undefined, "u32");
 * await gpu.run((step) => recordMaxPool(step, kernels, { x, y, argmax, window }));
 * console.log(await gpu.read(y), await gpu.readU32(argmax)); // [4] [1]
 * ```
 */
import tgpu from "typegpu";
import * as d from "typegpu/data";
import { elementGrid, type Gpu, type Step } from "./gpu.ts";
import { defineKernel, type Kernel, readWgsl, specializeConstants } from "./kernel.ts";
import { checkSizes, checkU32, type TensorLike } from "./tensor.ts";
import { LOOP_CHUNK, loopChunks } from "./loop_limit.ts";
import { windowExtent } from "./window.ts";

/**
 * A pooling window: size, stride and zero padding per axis. `padH` and `padW` pad the top and
 * left; the bottom and right take the same unless `padBottom` and `padRight` say otherwise.
 * `ceilMode` keeps a partial last window (see `windowExtent`); dilation spreads the taps.
 */
export interface PoolWindow {
  kernelHeight: number;
  kernelWidth: number;
  strideH: number;
  strideW: number;
  padH: number;
  padW: number;
  padBottom?: number;
  padRight?: number;
  dilationH?: number;
  dilationW?: number;
  ceilMode?: boolean;
}

/**
 * Output height and width of pooling an inHeight x inWidth plane. Throws an Error naming the
 * problem when a field is not a valid integer, a padding is not smaller than the (dilated) kernel,
 * or the output would be empty.
 *
 * @example
 * ```ts
 * poolOutputSize(7, 7, { kernelHeight: 3, kernelWidth: 3, strideH: 2, strideW: 2, padH: 1, padW: 1 });
 * // { outHeight: 4, outWidth: 4 }
 * poolOutputSize(112, 112, { kernelHeight: 3, kernelWidth: 3, strideH: 2, strideW: 2, padH: 0, padW: 0, ceilMode: true });
 * // { outHeight: 56, outWidth: 56 }
 * ```
 */
export function poolOutputSize(
  inHeight: number,
  inWidth: number,
  window: PoolWindow,
): { outHeight: number; outWidth: number } {
  return { outHeight: poolExtent("height", inHeight, window), outWidth: poolExtent("width", inWidth, window) };
}

/** The window along one axis: [kernel, stride, padding before, padding after, dilation]. */
function windowAxis(w: PoolWindow, axis: "height" | "width"): [number, number, number, number, number] {
  return axis === "height"
    ? [w.kernelHeight, w.strideH, w.padH, w.padBottom ?? w.padH, w.dilationH ?? 1]
    : [w.kernelWidth, w.strideW, w.padW, w.padRight ?? w.padW, w.dilationW ?? 1];
}

function poolExtent(axis: "height" | "width", size: number, window: PoolWindow): number {
  const [kernel, stride, pad, padAfter, dilation] = windowAxis(window, axis);
  const ceil = window.ceilMode ?? false;
  const fields: [string, number, number][] = [
    [`input ${axis}`, size, 1],
    [`kernel ${axis}`, kernel, 1],
    [`stride (${axis})`, stride, 1],
    [`padding (${axis})`, pad, 0],
    [`padding (${axis}, end)`, padAfter, 0],
    [`dilation (${axis})`, dilation, 1],
  ];
  for (const [name, value, min] of fields) {
    if (!Number.isInteger(value) || value < min) {
      throw new Error(`pool: ${name} must be an integer >= ${min}, got ${value}`);
    }
  }
  const span = (kernel - 1) * dilation + 1;
  // Every window then holds an input element, so a max never sees only padding.
  for (const p of [pad, padAfter]) {
    if (p >= span) throw new Error(`pool: padding ${p} must be smaller than the kernel ${axis} ${span}`);
  }
  return windowExtent("pool", axis, size, pad, { length: span, name: "kernel" }, stride, { padAfter, ceil });
}

const PoolParams = d.struct({
  count: d.u32,
  countIncludePad: d.u32,
  H: d.u32,
  W: d.u32,
  OH: d.u32,
  OW: d.u32,
  KH: d.u32,
  KW: d.u32,
  SH: d.u32,
  SW: d.u32,
  PH: d.u32,
  PW: d.u32,
  PB: d.u32,
  PR: d.u32,
  DH: d.u32,
  DW: d.u32,
  /** The window rows a forward walks in this dispatch: tapStart .. tapEnd - 1. */
  tapStart: d.u32,
  tapEnd: d.u32,
}).$name("PoolParams");

// argmax is written by the max forward and read by the max backward: one layout for both, so
// it is bound read-write throughout.
const layout = tgpu.bindGroupLayout({
  params: { uniform: PoolParams },
  src: { storage: d.arrayOf(d.f32), access: "readonly" },
  argmax: { storage: d.arrayOf(d.u32), access: "mutable" },
  dst: { storage: d.arrayOf(d.f32), access: "mutable" },
});

const code = readWgsl(import.meta.url, "pool.wgsl");
const OPS = ["max", "avg"] as const; // pool.wgsl's OP values 0 and 1
/** Per pass: each op's pipeline for undilated windows, then for dilated ones (pool.wgsl's DILATED). */
const passSpecs = (pass: "forward" | "backward") =>
  [0, 1].flatMap((dilated) =>
    OPS.map((op, i) =>
      defineKernel(
        `${op}_pool_${pass}${dilated ? "_dilated" : ""}`,
        layout,
        specializeConstants(code, { OP: i, DILATED: dilated }),
        pass,
      )
    )
  );
export const poolSpecs = { forward: passSpecs("forward"), backward: passSpecs("backward") };

/** The compiled pooling kernels, per pass: max and average for undilated windows, then the same for dilated ones. */
export interface PoolKernels {
  forward: Kernel<typeof layout.entries>[];
  backward: Kernel<typeof layout.entries>[];
}

/** Compiles the pooling kernels on a device (cached). */
export async function poolKernels(gpu: Gpu): Promise<PoolKernels> {
  const [forward, backward] = await Promise.all(
    [poolSpecs.forward, poolSpecs.backward].map((specs) => Promise.all(specs.map((spec) => gpu.kernel(spec)))),
  );
  return { forward, backward };
}

export interface MaxPoolArgs {
  /** [N, C, H, W] */
  x: TensorLike;
  /** [N, C, outHeight, outWidth], overwritten. */
  y: TensorLike;
  /** u32 [N, C, outHeight, outWidth], overwritten: flat index into x of each output's maximum. */
  argmax: TensorLike;
  window: PoolWindow;
}

export interface MaxPoolBackwardArgs {
  /** [N, C, outHeight, outWidth] */
  dy: TensorLike;
  /** The forward's argmax. */
  argmax: TensorLike;
  /** [N, C, H, W], overwritten. */
  dx: TensorLike;
  window: PoolWindow;
}

export interface AvgPoolArgs {
  x: TensorLike;
  y: TensorLike;
  window: PoolWindow;
  /** Divide by the whole window, padding included (default), or only by its in-input part. */
  countIncludePad?: boolean;
}

export interface AvgPoolBackwardArgs {
  dy: TensorLike;
  dx: TensorLike;
  window: PoolWindow;
  countIncludePad?: boolean;
}

const MAX = 0;
const AVG = 1;

interface PoolDispatch {
  pass: "forward" | "backward";
  op: typeof MAX | typeof AVG;
  /** [N, C, H, W] of the pooled input. */
  inputShape: readonly number[];
  window: PoolWindow;
  countIncludePad?: boolean;
  src: TensorLike;
  dst: TensorLike;
  argmax?: TensorLike;
}

function dispatchPool(step: Step, kernels: PoolKernels, p: PoolDispatch): void {
  const name = `${p.op === MAX ? "max" : "avg"}_pool_${p.pass}`;
  if (p.inputShape.length !== 4) throw new Error(`${name}: input must be [N, C, H, W], got [${p.inputShape}]`);
  const [N, C, H, W] = p.inputShape;
  const { outHeight, outWidth } = poolOutputSize(H, W, p.window);
  const outShape = [N, C, outHeight, outWidth];
  const [srcShape, dstShape] = p.pass === "forward" ? [p.inputShape, outShape] : [outShape, p.inputShape];
  checkSizes(name, {
    [p.pass === "forward" ? "x" : "dy"]: [p.src, srcShape],
    [p.pass === "forward" ? "y" : "dx"]: [p.dst, dstShape],
    ...(p.argmax ? { argmax: [p.argmax, outShape] } : {}),
  });
  if (p.argmax) checkU32(name, "argmax", p.argmax);
  const w = p.window;
  const dilated = (w.dilationH ?? 1) > 1 || (w.dilationW ?? 1) > 1;
  // A forward walks its window's rows, each row's taps and the back edge: pieces of rows keep a
  // large window (a global pool over 256 x 256) under llvmpipe's loop limit. A backward visits a few windows.
  const pieces = p.pass === "forward"
    ? loopChunks(w.kernelHeight, Math.max(1, Math.floor(LOOP_CHUNK / (w.kernelWidth + 2))))
    : [{ start: 0, end: 0 }];
  for (const { start, end } of pieces) {
    step.dispatch(kernels[p.pass][p.op + (dilated ? OPS.length : 0)], {
      params: {
        count: p.dst.size,
        countIncludePad: p.countIncludePad === false ? 0 : 1,
        H,
        W,
        OH: outHeight,
        OW: outWidth,
        KH: w.kernelHeight,
        KW: w.kernelWidth,
        SH: w.strideH,
        SW: w.strideW,
        PH: w.padH,
        PW: w.padW,
        PB: w.padBottom ?? w.padH,
        PR: w.padRight ?? w.padW,
        DH: w.dilationH ?? 1,
        DW: w.dilationW ?? 1,
        tapStart: start,
        tapEnd: end,
      },
      src: p.src,
      argmax: p.argmax ?? step.placeholder,
      dst: p.dst,
    }, elementGrid(p.dst.size));
  }
}

/** Records y = max over each window of x (padding never wins), and the argmax of each output. */
export function recordMaxPool(step: Step, kernels: PoolKernels, args: MaxPoolArgs): void {
  const { x, y, argmax, window } = args;
  dispatchPool(step, kernels, { pass: "forward", op: MAX, inputShape: x.shape, window, src: x, dst: y, argmax });
}

/** Records dx[i] = sum of dy over the outputs whose argmax is i. */
export function recordMaxPoolBackward(step: Step, kernels: PoolKernels, args: MaxPoolBackwardArgs): void {
  const { dy, dx, argmax, window } = args;
  dispatchPool(step, kernels, { pass: "backward", op: MAX, inputShape: dx.shape, window, src: dy, dst: dx, argmax });
}

/** Records y = the average of x over each window. */
export function recordAvgPool(step: Step, kernels: PoolKernels, args: AvgPoolArgs): void {
  const { x, y, window, countIncludePad } = args;
  dispatchPool(step, kernels, {
    pass: "forward",
    op: AVG,
    inputShape: x.shape,
    window,
    countIncludePad,
    src: x,
    dst: y,
  });
}

/** Records dx[i] = sum over the windows covering i of dy / (the window's divisor). */
export function recordAvgPoolBackward(step: Step, kernels: PoolKernels, args: AvgPoolBackwardArgs): void {
  const { dy, dx, window, countIncludePad } = args;
  const inputShape = dx.shape;
  dispatchPool(step, kernels, { pass: "backward", op: AVG, inputShape, window, countIncludePad, src: dy, dst: dx });
}

/** The window of global average pooling over an [N, C, H, W] tensor. */
function globalWindow(shape: readonly number[]): PoolWindow {
  if (shape.length !== 4) throw new Error(`global_avg_pool: input must be [N, C, H, W], got [${shape}]`);
  return { kernelHeight: shape[2], kernelWidth: shape[3], strideH: 1, strideW: 1, padH: 0, padW: 0 };
}

/** Records y[n, c] = mean of x[n, c, :, :]; y is [N, C] (or [N, C, 1, 1]). */
export function recordGlobalAvgPool(step: Step, kernels: PoolKernels, args: { x: TensorLike; y: TensorLike }): void {
  recordAvgPool(step, kernels, { x: args.x, y: args.y, window: globalWindow(args.x.shape) });
}

/** Records dx[n, c, h, w] = dy[n, c] / (H * W). */
export function recordGlobalAvgPoolBackward(
  step: Step,
  kernels: PoolKernels,
  args: { dy: TensorLike; dx: TensorLike },
): void {
  recordAvgPoolBackward(step, kernels, { dy: args.dy, dx: args.dx, window: globalWindow(args.dx.shape) });
}
