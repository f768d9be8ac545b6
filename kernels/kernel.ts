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

/** The arguments of one dispatch: a value for each uniform, a tensor for each storage entry. */
export type Bindings<E extends KernelEntries> = {
  [K in keyof E]: E[K] extends TgpuLayoutUniform ? d.InferInput<E[K]["uniform"]> : TensorLike;
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
