/**
 * Kernels: a WGSL template plus its typegpu bind-group layout, compiled once per device.
 *
 * The layout is the single source of truth for bindings: `tgpu.resolve` writes the
 * `@group/@binding` declarations into the WGSL from it, and dispatch arguments are typed from it,
 * so TypeScript and WGSL cannot disagree on names, types or order.
 */
import tgpu, { type TgpuBindGroupLayout, type TgpuLayoutEntry, type TgpuLayoutUniform } from "typegpu";
import type * as d from "typegpu/data";
import type { TensorLike } from "./tensor.ts";

/** Layout entries of a kernel: uniforms (params structs) and storage arrays. */
export type KernelEntries = Record<string, TgpuLayoutEntry>;

/** What a kernel needs to compile: a name for errors, its layout and its WGSL. */
export interface KernelSpec<E extends KernelEntries = KernelEntries> {
  /** Shown in every error and GPU label, e.g. "conv2d_forward". */
  readonly name: string;
  readonly layout: TgpuBindGroupLayout<E>;
  /**
   * WGSL source that refers to bindings as `layout.$.name`. Resolution rewrites these to the
   * binding's own name, so the word `layout` must mean nothing else (not even in a comment), and
   * no local may share a binding's name.
   */
  readonly code: string;
  /** Entry point; "main" unless given. */
  readonly entryPoint?: string;
}

/**
 * A byte range of a tensor's buffer bound as a uniform buffer instead of a params value: how the
 * window GEMM core (gemm_window.wgsl) stages one operand, since on CPU-emulated adapters a uniform
 * load costs a fraction of a storage load.
 */
export class UniformWindow {
  constructor(readonly tensor: TensorLike, readonly byteOffset: number, readonly byteSize: number) {}
}

/**
 * The arguments of one dispatch: a value (or a UniformWindow) for each uniform, a tensor for each
 * storage entry.
 */
export type Bindings<E extends KernelEntries> = {
  [K in keyof E]: E[K] extends TgpuLayoutUniform ? d.InferInput<E[K]["uniform"]> | UniformWindow : TensorLike;
};

/** Declares a kernel. `code` may be read from a `.wgsl` file next to the wrapper. */
export function defineKernel<E extends KernelEntries>(
  name: string,
  layout: TgpuBindGroupLayout<E>,
  code: string,
  entryPoint = "main",
): KernelSpec<E> {
  return { name, layout, code, entryPoint };
}

/**
 * Replaces `const NAME: u32 = <n>u;` declarations; every name must be declared once. A kernel
 * specialised this way per op or per shape compiles each variant with the value folded in: on
 * CPU-emulated adapters every case of a switch on a uniform value runs, masked, so one pipeline
 * per op beats one for all ops.
 */
export function specializeConstants(code: string, constants: Record<string, number>): string {
  let out = code;
  for (const [name, value] of Object.entries(constants)) {
    const pattern = new RegExp(`const ${name}: u32 = \\d+u;`);
    if (!pattern.test(out)) throw new Error(`specializeConstants: no "const ${name}: u32" in the WGSL`);
    out = out.replace(pattern, `const ${name}: u32 = ${value}u;`);
  }
  return out;
}

/** Reads a WGSL file that sits beside the module given by `base` (pass `import.meta.url`). */
export function readWgsl(base: string, file: string): string {
  return Deno.readTextFileSync(new URL(file, base));
}

/** The full WGSL of a kernel, with binding declarations generated from its layout. */
export function resolveWgsl(spec: KernelSpec): string {
  return tgpu.resolve({ template: spec.code, externals: { layout: spec.layout } });
}

/** A compiled kernel: the pipeline and the GPU layout it was built against. */
export interface Kernel<E extends KernelEntries = KernelEntries> {
  readonly spec: KernelSpec<E>;
  readonly pipeline: GPUComputePipeline;
  readonly bindGroupLayout: GPUBindGroupLayout;
}
