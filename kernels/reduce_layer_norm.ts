/**
 * Layer normalisation over the trailing values of each row (ONNX LayerNormalization), and
 * instance normalisation (per image and channel over the spatial positions, affine per channel):
 * the forward (two-pass mean and variance, saving each row's mean and 1/std), the input gradient,
 * and the scale and bias gradients.
 *
 * @example
 * ```ts
 * import { Gpu } from "./gpu.ts";
 * const gpu = await Gpu.create();
 * const kernels = await layerNormKernels(gpu);
 * const x = gpu.tensor([1, 4], [1, 2, 3, 4]);
 * const scale = gpu.tensor([4], [1, 1, 1, 1]);
 * const y = gpu.tensor([1, 4]), stats = gpu.tensor([1, 2]);
 * await gpu.run((step) => recordLayerNorm(step, kernels, { x, y, stats, scale, D: 4, epsilon: 0 }));
 * console.log(await gpu.read(y)); // [-1.342, -0.447, 0.447, 1.342]
 * ```
 */
import tgpu from "typegpu";
import * as d from "typegpu/data";
import { elementGrid, type Gpu, type Step } from "./gpu.ts";
import { defineKernel, type Kernel, readWgsl, specializeConstants } from "./kernel.ts";
import { loopChunks } from "./loop_limit.ts";
import { checkSizes, type TensorLike } from "./tensor.ts";

const LayerNormParams = d.struct({
  rows: d.u32,
  D: d.u32,
  C: d.u32,
  perChannel: d.u32,
  hasBias: d.u32,
  eps: d.f32,
  /** The parameter gradients' terms this dispatch sums: start .. end - 1. */
  start: d.u32,
  end: d.u32,
}).$name("LayerNormParams");

const input = { storage: d.arrayOf(d.f32), access: "readonly" } as const;
const output = { storage: d.arrayOf(d.f32), access: "mutable" } as const;

const layout = tgpu.bindGroupLayout({
  params: { uniform: LayerNormParams },
  x: input,
  dy: input,
  scale: input,
  bias: input,
  stats: input,
  out: output,
  aux: output,
});

const code = readWgsl(import.meta.url, "reduce_layer_norm.wgsl") + readWgsl(import.meta.url, "workgroup_reduce.wgsl");
const OPS = { forward: 0, inputGrad: 1, paramGrads: 2 } as const;
/** Forward and input gradient of rows from this long on: a workgroup per row (the `wide` entry). */
const WIDE_FROM = 4096;
/** The wide variants' entry point and their OP. */
const WIDE = { forwardWide: 0, inputGradWide: 1 } as const;
type LayerNormOp = keyof typeof OPS | keyof typeof WIDE;

/** The specs: forward, input gradient, parameter gradients, and forward and input gradient of wide rows. */
export const layerNormSpecs = Object.fromEntries([
  ...Object.entries(OPS).map(([op, value]) => [
    op,
    defineKernel(`layer_norm_${op}`, layout, specializeConstants(code, { OP: value })),
  ]),
  ...Object.entries(WIDE).map(([op, value]) => [
    op,
    defineKernel(`layer_norm_${op}`, layout, specializeConstants(code, { OP: value }), "wide"),
  ]),
]) as Record<LayerNormOp, ReturnType<typeof defineKernel<typeof layout.entries>>>;

/** The compiled layer-norm kernels. */
export type LayerNormKernels = Record<LayerNormOp, Kernel<typeof layout.entries>>;

/** Compiles the layer-norm kernels on a device (cached). */
export async function layerNormKernels(gpu: Gpu): Promise<LayerNormKernels> {
  const ops = Object.keys(layerNormSpecs) as LayerNormOp[];
  const kernels = await Promise.all(ops.map((op) => gpu.kernel(layerNormSpecs[op])));
  return Object.fromEntries(ops.map((op, i) => [op, kernels[i]])) as LayerNormKernels;
}

/** The kernel and grid of a per-row pass: an invocation per row, or a workgroup per wide row. */
function rowPass(kernels: LayerNormKernels, pass: "forward" | "inputGrad", rows: number, D: number) {
  return D >= WIDE_FROM
    ? { kernel: kernels[`${pass}Wide`], grid: elementGrid(rows, 1) }
    : { kernel: kernels[pass], grid: elementGrid(rows) };
}

/** Where the affine parameters vary: per normalised position (layer norm) or per channel (instance norm). */
export interface NormGeometry {
  /** Values normalised together (the row length). */
  D: number;
  /** Instance norm: the channel count C, rows being [N, C] in order; the affine is then per channel. */
  channels?: number;
}

export interface LayerNormArgs extends NormGeometry {
  x: TensorLike;
  /** x's shape, overwritten. */
  y: TensorLike;
  /** Two values per row (mean, 1/std), overwritten: what backward reads. */
  stats: TensorLike;
  /** D values, or `channels` for instance norm. */
  scale: TensorLike;
  bias?: TensorLike;
  epsilon: number;
}

export interface LayerNormBackwardArgs extends NormGeometry {
  x: TensorLike;
  dy: TensorLike;
  stats: TensorLike;
  scale: TensorLike;
  /** x's shape, overwritten; omit when no input gradient is wanted. */
  dx?: TensorLike;
  /** The scale's and bias's shape, overwritten; give both or neither. */
  dscale?: TensorLike;
  dbias?: TensorLike;
}

function geometry(kernel: string, x: TensorLike, g: NormGeometry) {
  const rows = x.size / g.D;
  if (!Number.isInteger(rows) || g.D < 1) throw new Error(`${kernel}: [${x.shape}] is not rows of ${g.D} values`);
  const C = g.channels ?? 1;
  if (rows % C !== 0) throw new Error(`${kernel}: ${rows} rows are not whole images of ${C} channels`);
  return { rows, D: g.D, C, perChannel: g.channels ? 1 : 0, affine: g.channels ?? g.D, start: 0, end: 0 };
}

/** Records y = layer_norm(x) * scale + bias and each row's statistics. */
export function recordLayerNorm(step: Step, kernels: LayerNormKernels, args: LayerNormArgs): void {
  const { affine, ...params } = geometry("layer_norm_forward", args.x, args);
  checkSizes("layer_norm_forward", {
    y: [args.y, args.x.size],
    stats: [args.stats, 2 * params.rows],
    scale: [args.scale, affine],
    ...(args.bias ? { bias: [args.bias, affine] } : {}),
  });
  const pass = rowPass(kernels, "forward", params.rows, params.D);
  step.dispatch(pass.kernel, {
    params: { ...params, hasBias: args.bias ? 1 : 0, eps: args.epsilon },
    x: args.x,
    dy: args.x,
    scale: args.scale,
    bias: args.bias ?? args.scale,
    stats: args.x,
    out: args.y,
    aux: args.stats,
  }, pass.grid);
}

/** Records dx, and d scale and d bias, from the forward's input and statistics. */
export function recordLayerNormBackward(step: Step, kernels: LayerNormKernels, args: LayerNormBackwardArgs): void {
  const { affine, ...params } = geometry("layer_norm_backward", args.x, args);
  checkSizes("layer_norm_backward", {
    dy: [args.dy, args.x.size],
    stats: [args.stats, 2 * params.rows],
    scale: [args.scale, affine],
    ...(args.dx ? { dx: [args.dx, args.x.size] } : {}),
    ...(args.dscale ? { dscale: [args.dscale, affine] } : {}),
    ...(args.dbias ? { dbias: [args.dbias, affine] } : {}),
  });
  const bound = { x: args.x, dy: args.dy, scale: args.scale, bias: args.scale, stats: args.stats };
  const uniforms = { ...params, hasBias: 0, eps: 0 };
  if (args.dx) {
    using spare = step.alloc([1]);
    const pass = rowPass(kernels, "inputGrad", params.rows, params.D);
    step.dispatch(pass.kernel, { params: uniforms, ...bound, out: args.dx, aux: spare }, pass.grid);
  }
  if (args.dscale && args.dbias) {
    // Terms per parameter: one per row (per position), or the channel's rows' values (per channel).
    const terms = params.perChannel ? (params.rows / params.C) * params.D : params.rows;
    for (const { start, end } of loopChunks(terms)) {
      step.dispatch(
        kernels.paramGrads,
        { params: { ...uniforms, start, end }, ...bound, out: args.dscale, aux: args.dbias },
        elementGrid(affine),
      );
    }
  }
}
