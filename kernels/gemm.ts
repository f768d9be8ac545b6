/**
 * The GEMM cores that matmul and the conv2d kernels are built on, the variants of each, and the
 * choice between them per adapter and per call shape.
 *
 * - `tiled` (gemm_tile.wgsl): 64 x 64 blocks staged in workgroup memory, for real GPUs.
 * - `register` (gemm_register.wgsl): no workgroup memory, for CPU-emulated adapters, where
 *   workgroup memory is zero-filled and synchronised per workgroup in software. Three shapes of
 *   register block, picked by M. Measured on llvmpipe (batch 64, 16->32 channels, 14x14, 3x3):
 *   conv forward tiled 547 ms, register 16x2 121 ms; and the tiled core takes about 25 s to
 *   JIT-compile there, against 0.2 s.
 *
 * A caller defines its kernel once with its accessor WGSL (`defineGemmKernels`), compiles it for
 * a device (`compileGemm`) and records it with `recordGemm`, which picks the variant and grid.
 */
import type { TgpuBindGroupLayout } from "typegpu";
import type { AdapterReport, Gpu, Step } from "./gpu.ts";
import { type Bindings, defineKernel, type Kernel, type KernelEntries, type KernelSpec, readWgsl } from "./kernel.ts";

export type GemmCore = "tiled" | "register";

/** Every core (tests check each against the oracle, whatever the adapter). */
export const GEMM_CORES: readonly GemmCore[] = ["tiled", "register"];

/** One compiled shape of a core: rows and columns of C per workgroup, and when it applies. */
interface GemmVariant {
  name: string;
  core: GemmCore;
  blockM: number;
  blockN: number;
  /** Smallest M this variant is meant for (the largest such variant wins). */
  minM: number;
  /** Constants of the core's WGSL replaced for this variant. */
  constants: Record<string, number>;
}

const VARIANTS: readonly GemmVariant[] = [
  { name: "tiled", core: "tiled", blockM: 64, blockN: 64, minM: 0, constants: {} },
  // 64 invocations along N; RM rows x RN columns each.
  { name: "register16x2", core: "register", blockM: 16, blockN: 128, minM: 16, constants: { RM: 16, RN: 2 } },
  { name: "register4x4", core: "register", blockM: 4, blockN: 256, minM: 4, constants: { RM: 4, RN: 4 } },
  { name: "register1x8", core: "register", blockM: 1, blockN: 512, minM: 0, constants: { RM: 1, RN: 8 } },
];

const CORE_FILES: Record<GemmCore, string> = { tiled: "gemm_tile.wgsl", register: "gemm_register.wgsl" };

/** The core that suits an adapter: register for CPU emulation (fallback adapters), else tiled. */
export function gemmCoreFor(adapter: AdapterReport): GemmCore {
  const software = /llvmpipe|lavapipe|swiftshader|warp|software/i.test(adapter.description);
  return adapter.isFallbackAdapter || software ? "register" : "tiled";
}

/** Replaces `const NAME: u32 = <n>u;` declarations; every name must be declared once. */
export function specializeConstants(code: string, constants: Record<string, number>): string {
  let out = code;
  for (const [name, value] of Object.entries(constants)) {
    const pattern = new RegExp(`const ${name}: u32 = \\d+u;`);
    if (!pattern.test(out)) throw new Error(`specializeConstants: no "const ${name}: u32" in the WGSL`);
    out = out.replace(pattern, `const ${name}: u32 = ${value}u;`);
  }
  return out;
}

/** A GEMM kernel's spec for every variant. */
export interface GemmSpecs<E extends KernelEntries> {
  readonly name: string;
  readonly variants: readonly { variant: GemmVariant; spec: KernelSpec<E> }[];
}

/** Defines a GEMM kernel from its accessor WGSL (loadA, loadB, storeC and their helpers). */
export function defineGemmKernels<E extends KernelEntries>(
  name: string,
  layout: TgpuBindGroupLayout<E>,
  accessors: string,
): GemmSpecs<E> {
  const variants = VARIANTS.map((variant) => {
    const core = specializeConstants(readWgsl(import.meta.url, CORE_FILES[variant.core]), variant.constants);
    const label = variant.core === "tiled" ? name : `${name}_${variant.name}`;
    return { variant, spec: defineKernel(label, layout, `${accessors}\n${core}`) };
  });
  return { name, variants };
}

/** A GEMM kernel compiled for one core, in all of that core's variants. */
export interface GemmKernel<E extends KernelEntries> {
  readonly core: GemmCore;
  readonly variants: readonly { variant: GemmVariant; kernel: Kernel<E> }[];
}

/** Compiles a GEMM kernel with the adapter's core, or with `core` when given (tests use both). */
export async function compileGemm<E extends KernelEntries>(
  gpu: Gpu,
  specs: GemmSpecs<E>,
  core: GemmCore = gemmCoreFor(gpu.adapter),
): Promise<GemmKernel<E>> {
  const chosen = specs.variants.filter((v) => v.variant.core === core);
  const kernels = await Promise.all(chosen.map((v) => gpu.kernel(v.spec)));
  return { core, variants: chosen.map((v, i) => ({ variant: v.variant, kernel: kernels[i] })) };
}

/** Records C (M x N, `batch` times along grid z) with the variant that suits M. */
export function recordGemm<E extends KernelEntries>(
  step: Step,
  gemm: GemmKernel<E>,
  bindings: Bindings<E>,
  M: number,
  N: number,
  batch = 1,
): void {
  const fits = gemm.variants.filter((v) => v.variant.minM <= M);
  const { variant, kernel } = fits.reduce((best, v) => (v.variant.minM > best.variant.minM ? v : best));
  step.dispatch(kernel, bindings, [Math.ceil(N / variant.blockN), Math.ceil(M / variant.blockM), batch]);
}
