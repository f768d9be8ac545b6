/**
 * Unary elementwise functions (tanh, erf, exp, log, sqrt, reciprocal, neg, abs, hard-swish, gelu
 * in its erf and tanh forms, silu, hard-sigmoid, pow by a constant), forward and backward: one
 * WGSL template, specialised per function and direction (see specializeConstants).
 *
 * @example
 * ```ts
 * import { Gpu } from "./gpu.ts";
 * const gpu = await Gpu.create();
 * const kernels = await unaryKernels(gpu);
 * const x = gpu.tensor([3], [-1, 0, 2]);
 * const y = gpu.tensor([3]);
 * await gpu.run((step) => recordUnary(step, kernels, { fn: "silu", x, y }));
 * console.log(await gpu.read(y)); // [-0.2689, 0, 1.7616]
 * ```
 */
import tgpu from "typegpu";
import * as d from "typegpu/data";
import { elementGrid, type Gpu, type Step } from "./gpu.ts";
import { defineKernel, type Kernel, type KernelSpec, readWgsl, specializeConstants } from "./kernel.ts";
import { checkSizes, type TensorLike } from "./tensor.ts";

/** The functions, by the FN code the WGSL switches on. */
const FN = {
  tanh: 0,
  erf: 1,
  exp: 2,
  log: 3,
  sqrt: 4,
  reciprocal: 5,
  neg: 6,
  abs: 7,
  hard_swish: 8,
  gelu: 9,
  gelu_tanh: 10,
  silu: 11,
  hard_sigmoid: 12,
  pow: 13,
} as const;

/** A unary function the kernels compute. `gelu` is the exact (erf) form, `gelu_tanh` the tanh approximation. */
export type UnaryFunction = keyof typeof FN;

/** Every unary function, in FN order. */
export const UNARY_FUNCTIONS = Object.keys(FN) as UnaryFunction[];

const UnaryParams = d.struct({ count: d.u32, alpha: d.f32, beta: d.f32 }).$name("UnaryParams");

const layout = tgpu.bindGroupLayout({
  params: { uniform: UnaryParams },
  x: { storage: d.arrayOf(d.f32), access: "readonly" },
  dy: { storage: d.arrayOf(d.f32), access: "readonly" },
  out: { storage: d.arrayOf(d.f32), access: "mutable" },
});

type Direction = "forward" | "backward";
const code = readWgsl(import.meta.url, "elementwise_unary.wgsl");

function spec(fn: UnaryFunction, direction: Direction): KernelSpec<typeof layout.entries> {
  const constants = { FN: FN[fn], BACKWARD: direction === "backward" ? 1 : 0 };
  return defineKernel(`unary_${fn}_${direction}`, layout, specializeConstants(code, constants));
}

/** One kernel per function and direction. */
export const unarySpecs = Object.fromEntries(
  UNARY_FUNCTIONS.map((fn) => [fn, { forward: spec(fn, "forward"), backward: spec(fn, "backward") }]),
) as Record<UnaryFunction, Record<Direction, KernelSpec<typeof layout.entries>>>;

/** The compiled unary kernels, by function and direction (only the functions asked for). */
export type UnaryKernels = Partial<Record<UnaryFunction, Record<Direction, Kernel<typeof layout.entries>>>>;

/** Compiles the unary kernels of `functions` (every one unless given) on a device (cached). */
export async function unaryKernels(
  gpu: Gpu,
  functions: readonly UnaryFunction[] = UNARY_FUNCTIONS,
): Promise<UnaryKernels> {
  const compiled = await Promise.all(
    functions.map(async (fn) => ({
      forward: await gpu.kernel(unarySpecs[fn].forward),
      backward: await gpu.kernel(unarySpecs[fn].backward),
    })),
  );
  return Object.fromEntries(functions.map((fn, i) => [fn, compiled[i]]));
}

/** The compiled kernel of a function and direction, or an Error saying it was not compiled. */
function compiled(kernels: UnaryKernels, fn: UnaryFunction, direction: Direction): Kernel<typeof layout.entries> {
  const kernel = kernels[fn]?.[direction];
  if (!kernel) throw new Error(`unary_${fn}_${direction}: not compiled (unaryKernels was not asked for ${fn})`);
  return kernel;
}

/**
 * The function's constants: hard_sigmoid's slope `alpha` and offset `beta` (y = clamp(alpha x +
 * beta, 0, 1)), pow's exponent `alpha`; the other functions ignore them.
 */
export interface UnaryConstants {
  alpha?: number;
  beta?: number;
}

/** Records y = fn(x) elementwise. */
export function recordUnary(
  step: Step,
  kernels: UnaryKernels,
  args: { fn: UnaryFunction; x: TensorLike; y: TensorLike } & UnaryConstants,
): void {
  dispatch(step, compiled(kernels, args.fn, "forward"), args.x, step.placeholder, args.y, args);
}

/** Records dx = dy * fn'(x) elementwise, from the forward input x. */
export function recordUnaryBackward(
  step: Step,
  kernels: UnaryKernels,
  args: { fn: UnaryFunction; x: TensorLike; dy: TensorLike; dx: TensorLike } & UnaryConstants,
): void {
  dispatch(step, compiled(kernels, args.fn, "backward"), args.x, args.dy, args.dx, args);
}

function dispatch(
  step: Step,
  kernel: Kernel<typeof layout.entries>,
  x: TensorLike,
  dy: TensorLike,
  out: TensorLike,
  constants: UnaryConstants,
): void {
  const count = out.size;
  checkSizes(kernel.spec.name, { x: [x, count], ...(dy === step.placeholder ? {} : { dy: [dy, count] }) });
  step.dispatch(kernel, {
    params: { count, alpha: constants.alpha ?? 0, beta: constants.beta ?? 0 },
    x,
    dy,
    out,
  }, elementGrid(count));
}
