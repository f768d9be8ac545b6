/**
 * 2-D convolution (NCHW, weights [Cout, Cin/groups, R, S]) and its input and weight gradients,
 * each an implicit GEMM on a GEMM core (gemm.ts), one GEMM per group; the input gradient of a
 * strided conv, or of one with few input channels, is a dense GEMM into columns and a col2im
 * instead (recordConv2dBackwardInput says when). The bias gradient is a per-channel sum of dy and
 * is not computed here.
 *
 * @example
 * ```ts
 * import { Gpu } from "./gpu.ts";
 * const gpu = await Gpu.create();
 * const kernels = await conv2dKernels(gpu);
 * const geom = { ...conv2dDefaults, batch: 1, inChannels: 1, inHeight: 3, inWidth: 3,
 *   outChannels: 1, kernelHeight: 3, kernelWidth: 3, padH: 1, padW: 1 };
 * const x = gpu.tensor([1, 1, 3, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9]);
 * const weight = gpu.tensor([1, 1, 3, 3], [0, 0, 0, 0, 1, 0, 0, 0, 0]); // identity
 * const y = gpu.tensor([1, 1, 3, 3]);
 * await gpu.run((step) => recordConv2dForward(step, kernels, { x, weight, y, geom }));
 * console.log(await gpu.read(y)); // 1..9
 * ```
 */
import tgpu from "typegpu";
import * as d from "typegpu/data";
import { elementGrid, type Gpu, type Step } from "./gpu.ts";
import { windowExtent } from "./window.ts";
import {
  compileGemm,
  defineGemmKernels,
  type GemmCore,
  gemmEntries,
  type GemmKernel,
  gemmStagingValues,
  MAX_LOOP_K,
  recordGemm,
} from "./gemm.ts";
import { defineKernel, type Kernel, readWgsl } from "./kernel.ts";
import { checkSizes, sizeOf, type TensorLike } from "./tensor.ts";

/** Shape and hyper-parameters of one convolution; every field a non-negative integer. */
export interface Conv2dGeometry {
  batch: number;
  inChannels: number;
  inHeight: number;
  inWidth: number;
  outChannels: number;
  kernelHeight: number;
  kernelWidth: number;
  strideH: number;
  strideW: number;
  /** Top padding (and bottom, unless `padBottom` differs). */
  padH: number;
  /** Left padding (and right, unless `padRight` differs). */
  padW: number;
  padBottom?: number;
  padRight?: number;
  dilationH: number;
  dilationW: number;
  /** Channel groups: 1 for a dense conv, inChannels for depthwise. Divides both channel counts. */
  groups: number;
}

/** Stride, padding, dilation and groups of a plain convolution, to spread under a shape. */
export const conv2dDefaults = {
  strideH: 1,
  strideW: 1,
  padH: 0,
  padW: 0,
  dilationH: 1,
  dilationW: 1,
  groups: 1,
} as const;

/** Every geometry field with its least valid value. */
const GEOMETRY_MINIMUM: Record<keyof Conv2dGeometry, number> = {
  batch: 1,
  inChannels: 1,
  inHeight: 1,
  inWidth: 1,
  outChannels: 1,
  kernelHeight: 1,
  kernelWidth: 1,
  strideH: 1,
  strideW: 1,
  padH: 0,
  padW: 0,
  padBottom: 0,
  padRight: 0,
  dilationH: 1,
  dilationW: 1,
  groups: 1,
};

/**
 * Output height and width of a convolution. Throws an Error naming the problem when a field is
 * not a valid integer, the channels do not divide into the groups, or the output would be empty.
 *
 * @example
 * ```ts
 * conv2dOutputSize({ ...conv2dDefaults, batch: 1, inChannels: 3, inHeight: 32, inWidth: 32,
 *   outChannels: 8, kernelHeight: 3, kernelWidth: 3, strideH: 2, strideW: 2, padH: 1, padW: 1 });
 * // { outHeight: 16, outWidth: 16 }
 * ```
 */
export function conv2dOutputSize(geom: Conv2dGeometry): { outHeight: number; outWidth: number } {
  for (const [key, min] of Object.entries(GEOMETRY_MINIMUM) as [keyof Conv2dGeometry, number][]) {
    const value = geom[key];
    if (value === undefined) continue; // an optional padding: the symmetric one applies
    if (!Number.isInteger(value) || value < min) {
      throw new Error(`conv2d: ${key} must be an integer >= ${min}, got ${value}`);
    }
  }
  const { inChannels, outChannels, groups } = geom;
  if (inChannels % groups !== 0 || outChannels % groups !== 0) {
    throw new Error(
      `conv2d: inChannels ${inChannels} and outChannels ${outChannels} must both be divisible by groups ${groups}`,
    );
  }
  const outHeight = outputExtent("height", geom.inHeight, geom.kernelHeight, geom.strideH, [
    geom.padH,
    geom.padBottom ?? geom.padH,
  ], geom.dilationH);
  const outWidth = outputExtent("width", geom.inWidth, geom.kernelWidth, geom.strideW, [
    geom.padW,
    geom.padRight ?? geom.padW,
  ], geom.dilationW);
  return { outHeight, outWidth };
}

// The kernels read only the top and left padding (padH, padW): the bottom and right ones only
// size the output, so asymmetric padding needs nothing more of them.
function outputExtent(
  axis: string,
  size: number,
  kernel: number,
  stride: number,
  [pad, padAfter]: [number, number],
  dilation: number,
) {
  return windowExtent(
    "conv2d",
    axis,
    size,
    pad,
    { length: (kernel - 1) * dilation + 1, name: "dilated kernel" },
    stride,
    { padAfter },
  );
}

/** One params struct for all three kernels: the GEMM sizes plus the whole geometry. */
const Conv2dParams = d.struct({
  M: d.u32,
  N: d.u32,
  K: d.u32,
  hasBias: d.u32,
  batch: d.u32,
  inChannels: d.u32,
  inHeight: d.u32,
  inWidth: d.u32,
  outChannels: d.u32,
  outHeight: d.u32,
  outWidth: d.u32,
  kernelHeight: d.u32,
  kernelWidth: d.u32,
  strideH: d.u32,
  strideW: d.u32,
  padH: d.u32,
  padW: d.u32,
  dilationH: d.u32,
  dilationW: d.u32,
  groupInChannels: d.u32,
  groupOutChannels: d.u32,
  /** The first image a columns-path dispatch covers (the input gradient's columns path splits the batch). */
  image0: d.u32,
}).$name("Conv2dParams");

/** col2im's stepping over the taps that reach a dx value (conv2d_col2im.wgsl). */
const Col2imTaps = d.struct({
  images: d.u32,
  periodH: d.u32,
  periodW: d.u32,
  outStepH: d.u32,
  outStepW: d.u32,
}).$name("Col2imTaps");

const input = { storage: d.arrayOf(d.f32), access: "readonly" } as const;
const output = { storage: d.arrayOf(d.f32), access: "mutable" } as const;
const params = { uniform: Conv2dParams } as const;

const forwardLayout = tgpu.bindGroupLayout({ params, x: input, weight: input, bias: input, y: output, ...gemmEntries });
const backwardInputLayout = tgpu.bindGroupLayout({ params, dy: input, weight: input, dx: output, ...gemmEntries });
const backwardWeightLayout = tgpu.bindGroupLayout({ params, dy: input, x: input, dweight: output, ...gemmEntries });
const backwardColumnsLayout = tgpu.bindGroupLayout({ params, dy: input, weight: input, dcol: output, ...gemmEntries });
const col2imLayout = tgpu.bindGroupLayout({ params, taps: { uniform: Col2imTaps }, dcol: input, dx: output });

/** A conv2d kernel's accessor WGSL: its operand accessors and the shared decoding. */
function convCode(...files: string[]): string {
  return [...files, "conv2d_geometry.wgsl"].map((f) => readWgsl(import.meta.url, f)).join("\n");
}

export const conv2dForwardSpecs = defineGemmKernels(
  "conv2d_forward",
  forwardLayout,
  convCode("conv2d_forward.wgsl", "conv2d_im2col.wgsl"),
  { swappable: true },
);
export const conv2dBackwardInputSpecs = defineGemmKernels(
  "conv2d_backward_input",
  backwardInputLayout,
  convCode("conv2d_backward_input.wgsl"),
  { swappable: true },
);
export const conv2dBackwardWeightSpecs = defineGemmKernels(
  "conv2d_backward_weight",
  backwardWeightLayout,
  convCode("conv2d_backward_weight.wgsl", "conv2d_im2col.wgsl"),
);
export const conv2dBackwardColumnsSpecs = defineGemmKernels(
  "conv2d_backward_columns",
  backwardColumnsLayout,
  readWgsl(import.meta.url, "conv2d_backward_columns.wgsl"),
  { swappable: true },
);
export const conv2dCol2imSpec = defineKernel(
  "conv2d_col2im",
  col2imLayout,
  readWgsl(import.meta.url, "conv2d_col2im.wgsl"),
);

/** The compiled conv2d kernels. */
export interface Conv2dKernels {
  forward: GemmKernel<typeof forwardLayout.entries>;
  backwardInput: GemmKernel<typeof backwardInputLayout.entries>;
  backwardWeight: GemmKernel<typeof backwardWeightLayout.entries>;
  /** The input gradient's columns path: the GEMM into columns, and col2im. */
  backwardColumns: GemmKernel<typeof backwardColumnsLayout.entries>;
  col2im: Kernel<typeof col2imLayout.entries>;
}

/**
 * Compiles the conv2d forward and backward kernels on a device (cached per device), with the
 * adapter's GEMM core unless `core` is given.
 */
export async function conv2dKernels(gpu: Gpu, core?: GemmCore): Promise<Conv2dKernels> {
  const [forward, backwardInput, backwardWeight, backwardColumns, col2im] = await Promise.all([
    compileGemm(gpu, conv2dForwardSpecs, core),
    compileGemm(gpu, conv2dBackwardInputSpecs, core),
    compileGemm(gpu, conv2dBackwardWeightSpecs, core),
    compileGemm(gpu, conv2dBackwardColumnsSpecs, core),
    gpu.kernel(conv2dCol2imSpec),
  ]);
  return { forward, backwardInput, backwardWeight, backwardColumns, col2im };
}

export interface Conv2dForwardArgs {
  /** [batch, inChannels, inHeight, inWidth] */
  x: TensorLike;
  /** [outChannels, inChannels / groups, kernelHeight, kernelWidth] */
  weight: TensorLike;
  /** [outChannels]; omit for none. */
  bias?: TensorLike;
  /** [batch, outChannels, outHeight, outWidth], overwritten. */
  y: TensorLike;
  geom: Conv2dGeometry;
}

export interface Conv2dBackwardInputArgs {
  /** Gradient of the loss with respect to y: [batch, outChannels, outHeight, outWidth]. */
  dy: TensorLike;
  weight: TensorLike;
  /** Gradient with respect to x, overwritten: [batch, inChannels, inHeight, inWidth]. */
  dx: TensorLike;
  geom: Conv2dGeometry;
  /** The path to take (tests take each); by default the one `conv2dBackwardInputPath` picks. */
  path?: Conv2dBackwardInputPath;
}

export interface Conv2dBackwardWeightArgs {
  dy: TensorLike;
  x: TensorLike;
  /** Gradient with respect to the weights, overwritten (not accumulated). */
  dweight: TensorLike;
  geom: Conv2dGeometry;
}

/** The sizes every record function needs: validated geometry, tensor shapes, per-group channels. */
interface ConvPlan {
  geom: Conv2dGeometry;
  outHeight: number;
  outWidth: number;
  groupIn: number;
  groupOut: number;
  xShape: number[];
  yShape: number[];
  weightShape: number[];
}

function plan(geom: Conv2dGeometry): ConvPlan {
  const { outHeight, outWidth } = conv2dOutputSize(geom);
  const groupIn = geom.inChannels / geom.groups;
  const groupOut = geom.outChannels / geom.groups;
  return {
    geom,
    outHeight,
    outWidth,
    groupIn,
    groupOut,
    xShape: [geom.batch, geom.inChannels, geom.inHeight, geom.inWidth],
    yShape: [geom.batch, geom.outChannels, outHeight, outWidth],
    weightShape: [geom.outChannels, groupIn, geom.kernelHeight, geom.kernelWidth],
  };
}

/** The params uniform of one dispatch. */
function convParams(
  p: ConvPlan,
  M: number,
  N: number,
  K: number,
  { hasBias = false, image0 = 0 } = {},
): d.Infer<typeof Conv2dParams> {
  const g = p.geom;
  return {
    M,
    N,
    K,
    hasBias: hasBias ? 1 : 0,
    batch: g.batch,
    inChannels: g.inChannels,
    inHeight: g.inHeight,
    inWidth: g.inWidth,
    outChannels: g.outChannels,
    outHeight: p.outHeight,
    outWidth: p.outWidth,
    kernelHeight: g.kernelHeight,
    kernelWidth: g.kernelWidth,
    strideH: g.strideH,
    strideW: g.strideW,
    padH: g.padH,
    padW: g.padW,
    dilationH: g.dilationH,
    dilationW: g.dilationW,
    groupInChannels: p.groupIn,
    groupOutChannels: p.groupOut,
    image0,
  };
}

/** The forward GEMM's sizes: M = Cout/groups, N = batch*Ho*Wo, K = Cin/groups*R*S. */
function forwardSizes(p: ConvPlan): { M: number; N: number; K: number } {
  const { kernelHeight, kernelWidth, batch } = p.geom;
  return { M: p.groupOut, N: batch * p.outHeight * p.outWidth, K: p.groupIn * kernelHeight * kernelWidth };
}

/** The sizes in values of the scratch tensors the forward allocates: its GEMM's staging (`gemmStagingValues`). */
export function conv2dForwardScratch(geom: Conv2dGeometry, bindingLimit: number): number[] {
  return gemmStagingValues({ ...forwardSizes(plan(geom)), batch: geom.groups }, { swappable: true, bindingLimit });
}

/** Records y = conv2d(x, weight) (+ bias per output channel) into a step. */
export function recordConv2dForward(step: Step, kernels: Conv2dKernels, args: Conv2dForwardArgs): void {
  const p = plan(args.geom);
  const { groups } = args.geom;
  checkSizes("conv2d_forward", {
    x: [args.x, p.xShape],
    weight: [args.weight, p.weightShape],
    y: [args.y, p.yShape],
    ...(args.bias ? { bias: [args.bias, [args.geom.outChannels]] } : {}),
  });
  const { M, N, K } = forwardSizes(p);
  recordGemm(
    step,
    kernels.forward,
    {
      params: convParams(p, M, N, K, { hasBias: args.bias !== undefined }),
      x: args.x,
      weight: args.weight,
      bias: args.bias ?? step.placeholder,
      y: args.y,
    },
    M,
    N,
    K,
    groups,
  );
}

/**
 * Records dx = d(loss)/dx from dy = d(loss)/dy and the weights into a step, by the path that suits
 * the geometry (`conv2dBackwardInputPath`) unless `args.path` names one.
 */
export function recordConv2dBackwardInput(step: Step, kernels: Conv2dKernels, args: Conv2dBackwardInputArgs): void {
  const p = plan(args.geom);
  checkSizes("conv2d_backward_input", {
    dy: [args.dy, p.yShape],
    weight: [args.weight, p.weightShape],
    dx: [args.dx, p.xShape],
  });
  const path = args.path ?? conv2dBackwardInputPath(args.geom, step.bindingLimit);
  if (path === "columns") recordByColumns(step, kernels, args, p);
  else recordImplicit(step, kernels, args, p);
}

/** How the input gradient is computed: one implicit GEMM, or a dense GEMM into columns and col2im. */
export type Conv2dBackwardInputPath = "implicit" | "columns";

/**
 * Fewer rows of C than this leave the window GEMM core for its much slower register variants
 * (gemm.ts's WINDOW_MIN_M): the implicit GEMM's M is Cin/groups, the columns' Cin/groups*R*S.
 */
const WINDOW_ROWS = 8;

/**
 * The most the columns may hold, over the bytes of the layer's dx and dy: they are scratch on top
 * of the pass's peak. ResNet's stem at 224 needs 2 (R*S*Cin columns per output pixel against Cout
 * values of dy); past this the conv's Cout is so small that its implicit GEMM is short anyway.
 */
const COLUMNS_MAX_GROWTH = 4;

/**
 * The input-gradient path for a geometry: the columns for a strided conv, where the implicit
 * GEMM's K is mostly taps that reach no output, and for one of fewer than 8 input channels whose
 * columns have 8 or more rows, which the window core then takes (ResNet's 7x7 stem on 3
 * channels). The implicit GEMM otherwise, and for grouped and depthwise convs (a window GEMM per
 * group over R*S times the rows costs more dispatches than the wasted taps: bench/README.md), for
 * columns over COLUMNS_MAX_GROWTH times dx and dy, for kernels whose col2im loops would pass
 * llvmpipe's loop limit, and when one image's columns would not fit one storage binding.
 */
export function conv2dBackwardInputPath(geom: Conv2dGeometry, bindingLimit: number): Conv2dBackwardInputPath {
  const p = plan(geom);
  const { kernelHeight: R, kernelWidth: S } = geom;
  const strided = geom.strideH > 1 || geom.strideW > 1;
  const fewChannels = p.groupIn < WINDOW_ROWS && p.groupIn * R * S >= WINDOW_ROWS;
  const columns = geom.inChannels * R * S * p.outHeight * p.outWidth;
  const small = columns <= COLUMNS_MAX_GROWTH * (sizeOf(p.xShape) + sizeOf(p.yShape)) / geom.batch;
  const fits = imagesPerColumns(p, bindingLimit) > 0 && R * (S + 1) <= MAX_LOOP_K;
  return (strided || fewChannels) && geom.groups === 1 && small && fits ? "columns" : "implicit";
}

/**
 * The sizes in values of the scratch tensors the input gradient allocates: its GEMM's staging
 * (kernels/gemm.ts `gemmStagingValues`), and on the columns path the columns for as many images as
 * the path covers at once.
 */
export function conv2dBackwardInputScratch(geom: Conv2dGeometry, bindingLimit: number): number[] {
  const p = plan(geom);
  if (conv2dBackwardInputPath(geom, bindingLimit) === "implicit") {
    const { M, N, K } = implicitSizes(p);
    return gemmStagingValues({ M, N, K, batch: geom.groups }, { swappable: true, bindingLimit });
  }
  return columnsScratch(p, imagesPerColumns(p, bindingLimit), bindingLimit);
}

/** The columns path's tensors for `images` images at a time: the columns and their GEMM's staging. */
function columnsScratch(p: ConvPlan, images: number, bindingLimit: number): number[] {
  const { M, K } = columnsSizes(p);
  const N = images * p.outHeight * p.outWidth;
  const staging = gemmStagingValues({ M, N, K, batch: p.geom.groups }, { swappable: true, bindingLimit });
  return [p.geom.groups * M * N, ...staging];
}

/** How many images' columns, and their GEMM's staging, fit one storage binding each (0 if not one). */
function imagesPerColumns(p: ConvPlan, bindingLimit: number): number {
  for (let images = p.geom.batch; images > 0; images = Math.floor(images / 2)) {
    if (columnsScratch(p, images, bindingLimit).every((values) => 4 * values <= bindingLimit)) return images;
  }
  return 0;
}

/** The implicit GEMM's sizes: M = Cin/groups, N = batch*H*W, K = Cout/groups*R*S. */
function implicitSizes(p: ConvPlan): { M: number; N: number; K: number } {
  const { kernelHeight, kernelWidth, batch, inHeight, inWidth } = p.geom;
  return { M: p.groupIn, N: batch * inHeight * inWidth, K: p.groupOut * kernelHeight * kernelWidth };
}

/** The columns GEMM's M = Cin/groups*R*S and K = Cout/groups (its N is the images' output pixels). */
function columnsSizes(p: ConvPlan): { M: number; K: number } {
  return { M: p.groupIn * p.geom.kernelHeight * p.geom.kernelWidth, K: p.groupOut };
}

/** The implicit GEMM: M = Cin/groups, N = batch*H*W, K = Cout/groups*R*S (conv2d_backward_input.wgsl). */
function recordImplicit(step: Step, kernels: Conv2dKernels, args: Conv2dBackwardInputArgs, p: ConvPlan): void {
  const { groups } = args.geom;
  const { M, N, K } = implicitSizes(p);
  recordGemm(
    step,
    kernels.backwardInput,
    { params: convParams(p, M, N, K), dy: args.dy, weight: args.weight, dx: args.dx },
    M,
    N,
    K,
    groups,
  );
}

/**
 * The columns path, over as many images at a time as fit one binding: per chunk the dense GEMM
 * into dcol (M = Cin/groups*R*S, N = images*Ho*Wo, K = Cout/groups), then col2im into dx.
 */
function recordByColumns(step: Step, kernels: Conv2dKernels, args: Conv2dBackwardInputArgs, p: ConvPlan): void {
  const g = args.geom;
  const outPlane = p.outHeight * p.outWidth;
  const { M, K } = columnsSizes(p);
  const images = Math.max(1, imagesPerColumns(p, step.bindingLimit)); // 0 only when forced: the binding then fails
  const [rows, cols] = [tapPeriod(g.strideH, g.dilationH), tapPeriod(g.strideW, g.dilationW)];
  using dcol = step.alloc([g.groups * M, images * outPlane]);
  for (let image0 = 0; image0 < g.batch; image0 += images) {
    const count = Math.min(images, g.batch - image0);
    const N = count * outPlane;
    const params = convParams(p, M, N, K, { image0 });
    recordGemm(step, kernels.backwardColumns, { params, dy: args.dy, weight: args.weight, dcol }, M, N, K, g.groups);
    const taps = {
      images: count,
      periodH: rows.period,
      periodW: cols.period,
      outStepH: rows.outStep,
      outStepW: cols.outStep,
    };
    step.dispatch(
      kernels.col2im,
      { params, taps, dcol, dx: args.dx },
      elementGrid(count * g.inChannels * g.inHeight * g.inWidth),
    );
  }
}

/**
 * Along one axis, the taps that reach an input position recur every `period` kernel taps, and
 * their output positions `outStep` apart: tap*dilation changes by a multiple of the stride.
 */
function tapPeriod(stride: number, dilation: number): { period: number; outStep: number } {
  const common = gcd(stride, dilation);
  return { period: stride / common, outStep: dilation / common };
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/** Records dweight = d(loss)/dweight from dy = d(loss)/dy and the input x into a step. */
export function recordConv2dBackwardWeight(step: Step, kernels: Conv2dKernels, args: Conv2dBackwardWeightArgs): void {
  const p = plan(args.geom);
  const { kernelHeight, kernelWidth, batch, groups } = args.geom;
  checkSizes("conv2d_backward_weight", {
    dy: [args.dy, p.yShape],
    x: [args.x, p.xShape],
    dweight: [args.dweight, p.weightShape],
  });
  const M = p.groupOut, N = p.groupIn * kernelHeight * kernelWidth, K = batch * p.outHeight * p.outWidth;
  recordGemm(
    step,
    kernels.backwardWeight,
    {
      params: convParams(p, M, N, K),
      dy: args.dy,
      x: args.x,
      dweight: args.dweight,
    },
    M,
    N,
    K,
    groups,
  );
}
