/**
 * Binary elementwise functions (add, sub, mul, div, max, min) with numpy/ONNX broadcasting, forward
 * and backward. Backward gives one operand's gradient, summed over the axes it broadcasts along,
 * so a squeeze-excitation scale [N, C, 1, 1] or a per-channel constant [C, 1, 1] gets its own
 * shape back. One WGSL template, specialised per function and operand (see specializeConstants).
 *
 * @example
 * ```ts
 * import { Gpu } from "./gpu.ts";
 * const gpu = await Gpu.create();
 * const kernels = await binaryKernels(gpu);
 * const x = gpu.tensor([1, 2, 2], [1, 2, 3, 4]);
 * const scale = gpu.tensor([2, 1], [10, -1]);
 * const y = gpu.tensor([1, 2, 2]);
 * await gpu.run((step) => recordBinary(step, kernels, { fn: "mul", a: x, b: scale, out: y }));
 * console.log(await gpu.read(y)); // [10, 20, -3, -4]
 * ```
 */
import tgpu from "typegpu";
import * as d from "typegpu/data";
import { broadcastPlan, spanStrides } from "./broadcast.ts";
import { elementGrid, type Gpu, type Step } from "./gpu.ts";
import { defineKernel, type Kernel, type KernelSpec, readWgsl, specializeConstants } from "./kernel.ts";
import { LOOP_CHUNK, loopChunks } from "./loop_limit.ts";
import { checkSizes, type TensorLike } from "./tensor.ts";

const FN = { add: 0, sub: 1, mul: 2, div: 3, max: 4, min: 5 } as const;

/** A binary function the kernels compute. */
export type BinaryFunction = keyof typeof FN;

/** Every binary function, in FN order. */
export const BINARY_FUNCTIONS = Object.keys(FN) as BinaryFunction[];

/** Axes the kernels index after merging (see broadcastPlan): 8 distinct broadcast patterns. */
const MAX_RANK = 8;
/** Below this many terms per gradient element one invocation sums them; from it on, a workgroup. */
const WORKGROUP_SUM_FROM = 32;
/** Invocations of the workgroup that sums one gradient element's terms (mainBackwardReduce's WG). */
const REDUCE_WORKGROUP = 64;

const Axes = d.arrayOf(d.vec4u, MAX_RANK / 4);
const BinaryParams = d.struct({
  count: d.u32,
  rank: d.u32,
  reduce: d.u32,
  /** The terms a workgroup sum adds in this dispatch: start .. end - 1 (mainBackwardReduce). */
  start: d.u32,
  end: d.u32,
  dims: Axes,
  reduced: Axes,
  strides1: Axes,
  strides2: Axes,
}).$name("BinaryParams");

const input = { storage: d.arrayOf(d.f32), access: "readonly" } as const;
const layout = tgpu.bindGroupLayout({
  params: { uniform: BinaryParams },
  a: input,
  b: input,
  dy: input,
  out: { storage: d.arrayOf(d.f32), access: "mutable" },
});

type Spec = KernelSpec<typeof layout.entries>;
type Side = "a" | "b";
const code = readWgsl(import.meta.url, "elementwise_binary.wgsl") +
  readWgsl(import.meta.url, "workgroup_reduce.wgsl");

type Entry = "forward" | "backward" | "backwardReduce";
/** Merged ranks with kernels of their own (the loops unroll); 0 is the general kernel, for 4 to 8. */
const SPECIALISED_RANKS = [1, 2, 3, 0] as const;
const rankKey = (rank: number) => (rank <= 3 ? rank : 0);

/** A kernel's name, which is also its key: e.g. binary_mul_backwardReduce_b_r2. */
function kernelName(fn: BinaryFunction, entry: Entry, side: Side, rank: number): string {
  const operand = entry === "forward" ? "" : `_${side}`;
  return `binary_${fn}_${entry}${operand}_r${rankKey(rank) || "n"}`;
}

function spec(fn: BinaryFunction, entry: Entry, side: Side, rank: number): Spec {
  const constants = {
    FN: FN[fn],
    SIDE: side === "a" ? 0 : 1,
    WG: entry === "backwardReduce" ? REDUCE_WORKGROUP : 256,
    RANK: rank,
  };
  const entryPoint = `main${entry[0].toUpperCase()}${entry.slice(1)}`;
  return defineKernel(kernelName(fn, entry, side, rank), layout, specializeConstants(code, constants), entryPoint);
}

const VARIANTS: [Entry, Side][] = [["forward", "a"], ["backward", "a"], ["backward", "b"], [
  "backwardReduce",
  "a",
], ["backwardReduce", "b"]];

/** Every binary kernel's spec, by name: per function, entry point, operand and merged rank. */
export const binarySpecs: Record<string, Spec> = Object.fromEntries(
  BINARY_FUNCTIONS.flatMap((fn) =>
    VARIANTS.flatMap(([entry, side]) => SPECIALISED_RANKS.map((rank) => spec(fn, entry, side, rank)))
  ).map((k) => [k.name, k]),
);

/** The compiled binary kernels, by name (see binarySpecs). */
export type BinaryKernels = Record<string, Kernel<typeof layout.entries>>;

/** Compiles the binary kernels of `functions` (every one unless given) on a device (cached). */
export async function binaryKernels(
  gpu: Gpu,
  functions: readonly BinaryFunction[] = BINARY_FUNCTIONS,
): Promise<BinaryKernels> {
  const specs = Object.values(binarySpecs).filter((k) => functions.some((fn) => k.name.startsWith(`binary_${fn}_`)));
  const compiled = await Promise.all(specs.map((k) => gpu.kernel(k)));
  return Object.fromEntries(specs.map((k, i) => [k.name, compiled[i]]));
}

/** The compiled kernel of that name, or an Error saying it was not compiled. */
function compiled(kernels: BinaryKernels, name: string): Kernel<typeof layout.entries> {
  const kernel = kernels[name];
  if (!kernel) throw new Error(`${name}: not compiled (binaryKernels was not asked for its function)`);
  return kernel;
}

/** Packs up to MAX_RANK axis values into the uniform's vec4 pairs (unused axes 1). */
function axes(values: readonly number[]): d.v4u[] {
  const padded = [...values, ...new Array(MAX_RANK - values.length).fill(1)];
  return [
    d.vec4u(...padded.slice(0, 4) as [number, number, number, number]),
    d.vec4u(...padded.slice(4) as [number, number, number, number]),
  ];
}

/** The plan of `out = f(a, b)`, or an Error naming the kernel and the shapes. */
function mergedPlan(what: string, out: readonly number[], a: readonly number[], b: readonly number[]) {
  const plan = broadcastPlan(out, a, b);
  if (!plan) throw new Error(`${what}: [${a}] and [${b}] do not broadcast to [${out}]`);
  if (plan.dims.length > MAX_RANK) {
    throw new Error(
      `${what}: [${a}] and [${b}] broadcast along ${plan.dims.length} alternating axes; at most ${MAX_RANK}`,
    );
  }
  return plan;
}

/** Records out = fn(a, b), a and b broadcast (numpy/ONNX rules) to out's shape. */
export function recordBinary(
  step: Step,
  kernels: BinaryKernels,
  args: { fn: BinaryFunction; a: TensorLike; b: TensorLike; out: TensorLike },
): void {
  const plan = mergedPlan(`binary_${args.fn}_forward`, args.out.shape, args.a.shape, args.b.shape);
  const kernel = compiled(kernels, kernelName(args.fn, "forward", "a", plan.dims.length));
  const count = args.out.size;
  step.dispatch(kernel, {
    params: {
      count,
      rank: plan.dims.length,
      reduce: 1,
      start: 0,
      end: 0,
      dims: axes(plan.dims),
      reduced: axes([]),
      strides1: axes(spanStrides(plan.dims, plan.a)),
      strides2: axes(spanStrides(plan.dims, plan.b)),
    },
    a: args.a,
    b: args.b,
    dy: step.placeholder,
    out: args.out,
  }, elementGrid(count));
}

/**
 * Records the gradient of fn(a, b) with respect to one operand (`side`), from the output gradient
 * dy (the output's shape): dy times the partial derivative, summed over the axes that operand
 * broadcasts along, so `grad` has that operand's shape. a and b are the forward operands.
 */
export function recordBinaryBackward(
  step: Step,
  kernels: BinaryKernels,
  args: { fn: BinaryFunction; side: Side; a: TensorLike; b: TensorLike; dy: TensorLike; grad: TensorLike },
): void {
  const { a, b, dy, grad, side } = args;
  const what = `binary_${args.fn}_backward_${side}`;
  checkSizes(what, { grad: [grad, (side === "a" ? a : b).size] });
  const plan = mergedPlan(what, dy.shape, a.shape, b.shape);
  const spans = side === "a" ? plan.a : plan.b;
  const reduced = plan.dims.map((size, k) => (spans[k] ? 1 : size));
  const reduce = reduced.reduce((x, y) => x * y, 1);
  const workgroup = reduce >= WORKGROUP_SUM_FROM;
  const count = grad.size;
  const kernel = compiled(
    kernels,
    kernelName(args.fn, workgroup ? "backwardReduce" : "backward", side, plan.dims.length),
  );
  // A workgroup's invocations each take every 64th term, and each term walks the axes once more
  // where the rank is not specialised: chunks keep one dispatch's loops under llvmpipe's limit.
  const chunks = workgroup ? loopChunks(reduce, REDUCE_WORKGROUP * Math.floor(LOOP_CHUNK / (plan.dims.length + 1))) : [
    { start: 0, end: reduce },
  ];
  for (const { start, end } of chunks) {
    step.dispatch(kernel, {
      params: {
        count,
        rank: plan.dims.length,
        reduce,
        start,
        end,
        dims: axes(plan.dims.map((size, k) => (spans[k] ? size : 1))),
        reduced: axes(reduced),
        strides1: axes(spanStrides(plan.dims, plan.dims.map(() => true))),
        strides2: axes(spanStrides(plan.dims, side === "a" ? plan.b : plan.a)),
      },
      a,
      b,
      dy,
      out: grad,
    }, workgroup ? elementGrid(count, 1) : elementGrid(count));
  }
}
