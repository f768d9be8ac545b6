/**
 * The GEMM cores that matmul, the conv2d kernels and the Gram kernel are built on, the variants of
 * each, and the choice between them per adapter and per call shape.
 *
 * - `tiled` (gemm_tile.wgsl): 64 x 64 blocks staged in workgroup memory, for real GPUs.
 * - `register` (gemm_register.wgsl): no workgroup memory, operands straight from storage buffers.
 * - `window` (gemm_window.wgsl): for CPU-emulated adapters. A is packed into 64 KiB windows
 *   bound as uniform buffers, one dispatch per window; B is read through column/cursor accessors
 *   that do no division in the k loop. Below 8 rows of C it hands over to the register variants.
 *
 * Measured on llvmpipe, two shared cores (bench/ --cores, conv N=32 64->64 16x16 3x3 and GEMM
 * 1024^3, GFLOP/s over several runs): window 4.9-8.4 and 4.0-7.2, register 1.1-2.0 and 1.8,
 * tiled 1.1-1.4 and 1.5; the tiled core also takes 20-25 s to JIT-compile there, the others under
 * a second. Tried on the window core and dropped: 32-row windows (the compiler stops unrolling
 * the block and it runs 5x slower), k unrolled 2x or 4x, 16 columns per invocation, dispatching
 * N in cache-sized slices, and fully unrolled windows with constant offsets (minutes to compile,
 * no faster): see bench/README.md.
 *
 * A caller defines its kernel once with its accessor WGSL (`defineGemmKernels`) on a layout that
 * spreads `gemmEntries`, compiles it for a device (`compileGemm`) and records it with
 * `recordGemm`, which picks the variant and grid and, for the window core, packs A first.
 */
import type { TgpuBindGroupLayout } from "typegpu";
import * as d from "typegpu/data";
import { type AdapterReport, type Gpu, grid1d, type Step } from "./gpu.ts";
import {
  type Bindings,
  defineKernel,
  type Kernel,
  type KernelEntries,
  type KernelSpec,
  readWgsl,
  specializeConstants,
  UniformWindow,
} from "./kernel.ts";

export type GemmCore = "tiled" | "register" | "window";

/** Every core (tests check each against the oracle, whatever the adapter). */
export const GEMM_CORES: readonly GemmCore[] = ["tiled", "register", "window"];

/** Rows of C per window and values of k per window (gemm_window.wgsl's ROWS and KC). */
const WINDOW_ROWS = 16;
const WINDOW_K = 1024;
/** A window's size in floats: 64 KiB, WebGPU's guaranteed uniform binding size. */
const WINDOW_FLOATS = WINDOW_ROWS * WINDOW_K;
/** Below this many rows of C the window core's 16-row windows waste too much: register instead. */
const WINDOW_MIN_M = 8;
/** Workgroups per dispatch the window core aims for, so every CPU thread has work. */
const WINDOW_MIN_WORKGROUPS = 8;

/** The window core's per-dispatch uniform (gemm_window.wgsl). */
const GemmTile = d.struct({
  g: d.u32,
  m0: d.u32,
  k0: d.u32,
  kLen: d.u32,
  first: d.u32,
  packed: d.u32,
  stride: d.u32,
  chunks: d.u32,
  tiles: d.u32,
  kc: d.u32,
}).$name("GemmTile");

/**
 * Layout entries every GEMM kernel carries for the window core (the other cores leave them
 * unread): the dispatch's tile, the window of packed A, and scratch for packing and partial sums.
 */
export const gemmEntries = {
  tile: { uniform: GemmTile },
  stagedA: { uniform: d.arrayOf(d.vec4f, WINDOW_FLOATS / 4) },
  scratch: { storage: d.arrayOf(d.f32), access: "mutable" },
} as const;

type GemmEntries = typeof gemmEntries;
/** What a caller binds: its own entries; recordGemm adds the window core's. */
type CallerBindings<E extends KernelEntries> = Omit<Bindings<E>, keyof GemmEntries>;

/** One compiled shape of a core: block of C per workgroup, and when it applies. */
interface GemmVariant {
  name: string;
  file: string;
  /** Cores that use this variant. */
  cores: readonly GemmCore[];
  blockM: number;
  blockN: number;
  /** Smallest M a register variant is meant for (the largest such variant wins). */
  minM: number;
  /** Constants of the core's WGSL replaced for this variant. */
  constants: Record<string, number>;
}

const VARIANTS: readonly GemmVariant[] = [
  { name: "tiled", file: "gemm_tile.wgsl", cores: ["tiled"], blockM: 64, blockN: 64, minM: 0, constants: {} },
  // 64 invocations along N; RM rows x RN columns each.
  {
    name: "register16x2",
    file: "gemm_register.wgsl",
    cores: ["register"],
    blockM: 16,
    blockN: 128,
    minM: 16,
    constants: { RM: 16, RN: 2 },
  },
  {
    name: "register4x4",
    file: "gemm_register.wgsl",
    cores: ["register", "window"],
    blockM: 4,
    blockN: 256,
    minM: 4,
    constants: { RM: 4, RN: 4 },
  },
  {
    name: "register1x8",
    file: "gemm_register.wgsl",
    cores: ["register", "window"],
    blockM: 1,
    blockN: 512,
    minM: 0,
    constants: { RM: 1, RN: 8 },
  },
  // WG invocations along N, RN columns x 16 rows each; the narrower one keeps small N parallel
  // (GEMM 1024^3 on llvmpipe, two runs: 8 columns x 16 invocations 6.4 and 5.6 GFLOP/s, 4 x 16 4.9 and 5.2).
  {
    name: "window8x64",
    file: "gemm_window.wgsl",
    cores: ["window"],
    blockM: WINDOW_ROWS,
    blockN: 512,
    minM: WINDOW_MIN_M,
    constants: { RN: 8, WG: 64 },
  },
  {
    name: "window8x16",
    file: "gemm_window.wgsl",
    cores: ["window"],
    blockM: WINDOW_ROWS,
    blockN: 128,
    minM: WINDOW_MIN_M,
    constants: { RN: 8, WG: 16 },
  },
];

/** The core that suits an adapter: window for CPU emulation (fallback adapters), else tiled. */
export function gemmCoreFor(adapter: AdapterReport): GemmCore {
  const software = /llvmpipe|lavapipe|swiftshader|warp|software/i.test(adapter.description);
  return adapter.isFallbackAdapter || software ? "window" : "tiled";
}

/** The window core's entry points besides `main`: packing A and handing C to storeC. */
interface WindowEntries<T> {
  readonly pack: T;
  readonly finish: T;
}

/** A GEMM kernel's spec for every variant, and the window core's other entry points. */
export interface GemmSpecs<E extends KernelEntries> {
  readonly name: string;
  readonly variants: readonly { variant: GemmVariant; spec: KernelSpec<E> }[];
  readonly window: WindowEntries<KernelSpec<E>>;
}

/**
 * Defines a GEMM kernel from its accessor WGSL: loadA, B's column/cursor accessors (BColumn,
 * BCursor, bColumn, bCursor, bAt, bNext) and storeC. `layout` must spread `gemmEntries`.
 */
export function defineGemmKernels<E extends KernelEntries>(
  name: string,
  layout: TgpuBindGroupLayout<E>,
  accessors: string,
): GemmSpecs<E> {
  const variants = VARIANTS.map((variant) => {
    const core = specializeConstants(readWgsl(import.meta.url, variant.file), variant.constants);
    const label = variant.name === "tiled" ? name : `${name}_${variant.name}`;
    return { variant, spec: defineKernel(label, layout, `${accessors}\n${core}`) };
  });
  const windowCode = variants.find((v) => v.variant.file === "gemm_window.wgsl")!.spec.code;
  const window = {
    pack: defineKernel(`${name}_pack`, layout, windowCode, "pack"),
    finish: defineKernel(`${name}_finish`, layout, windowCode, "finish"),
  };
  return { name, variants, window };
}

/** A GEMM kernel compiled for one core, in all of that core's variants. */
export interface GemmKernel<E extends KernelEntries> {
  readonly core: GemmCore;
  readonly variants: readonly { variant: GemmVariant; kernel: Kernel<E> }[];
  /** The window core's other entry points (window core only). */
  readonly window: WindowEntries<Kernel<E>> | null;
}

/** Compiles a GEMM kernel with the adapter's core, or with `core` when given (tests use each). */
export async function compileGemm<E extends KernelEntries>(
  gpu: Gpu,
  specs: GemmSpecs<E>,
  core: GemmCore = gemmCoreFor(gpu.adapter),
): Promise<GemmKernel<E>> {
  const chosen = specs.variants.filter((v) => v.variant.cores.includes(core));
  const [kernels, window] = await Promise.all([
    Promise.all(chosen.map((v) => gpu.kernel(v.spec))),
    core === "window"
      ? Promise.all([gpu.kernel(specs.window.pack), gpu.kernel(specs.window.finish)]).then(([pack, finish]) => ({
        pack,
        finish,
      }))
      : null,
  ]);
  return { core, variants: chosen.map((v, i) => ({ variant: v.variant, kernel: kernels[i] })), window };
}

/** Records C (M x N, `batch` times along grid z) with the variant that suits the shape. */
export function recordGemm<E extends KernelEntries>(
  step: Step,
  gemm: GemmKernel<E>,
  bindings: CallerBindings<E>,
  M: number,
  N: number,
  K: number,
  batch = 1,
): void {
  const windows = gemm.variants.filter((v) => v.variant.file === "gemm_window.wgsl");
  if (gemm.window && M >= WINDOW_MIN_M) {
    // The widest window variant that still gives every thread work (or the narrowest).
    const fits = windows.filter((v) => Math.ceil(N / v.variant.blockN) >= WINDOW_MIN_WORKGROUPS);
    const chosen = fits.length > 0 ? fits[0] : windows[windows.length - 1];
    recordWindowed(step, gemm.window, chosen, bindings, { M, N, K, batch });
    return;
  }
  const fits = gemm.variants.filter((v) => v.variant.file !== "gemm_window.wgsl" && v.variant.minM <= M);
  const { variant, kernel } = fits.reduce((best, v) => (v.variant.minM > best.variant.minM ? v : best));
  const unused = placeholderEntries(step);
  step.dispatch(kernel, { ...bindings, ...unused.entries } as Bindings<E>, [
    Math.ceil(N / variant.blockN),
    Math.ceil(M / variant.blockM),
    batch,
  ]);
  unused.dispose();
}

/** Tile, window and scratch for a core that reads none of them (two buffers: one is writable). */
function placeholderEntries(step: Step) {
  const window = step.alloc([WINDOW_FLOATS]);
  const scratch = step.alloc([1]);
  return {
    entries: { tile: tileParams({}), stagedA: new UniformWindow(window, 0, WINDOW_FLOATS * 4), scratch },
    dispose: () => {
      window.dispose();
      scratch.dispose();
    },
  };
}

function tileParams(fields: Partial<d.Infer<typeof GemmTile>>): d.Infer<typeof GemmTile> {
  const zero = { g: 0, m0: 0, k0: 0, kLen: 0, first: 0, packed: 0, stride: 0, chunks: 1, tiles: 1, kc: 0 };
  return { ...zero, ...fields };
}

/**
 * The window core: pack A (one dispatch), then per (g, row tile) one dispatch of `main` per k
 * chunk with its window bound, summing into a scratch tile, and one of `finish` to store it.
 */
function recordWindowed<E extends KernelEntries>(
  step: Step,
  { pack, finish }: WindowEntries<Kernel<E>>,
  { variant, kernel }: { variant: GemmVariant; kernel: Kernel<E> },
  bindings: CallerBindings<E>,
  { M, N, K, batch }: { M: number; N: number; K: number; batch: number },
): void {
  const kc = K > WINDOW_K ? WINDOW_K : Math.ceil(K / 4) * 4; // a window's byte size stays a multiple of 256
  const chunks = Math.ceil(K / kc);
  const tiles = Math.ceil(M / WINDOW_ROWS);
  const stride = WINDOW_ROWS * kc;
  const count = batch * tiles * chunks;
  const shape = { packed: count * stride, stride, chunks, tiles, kc };
  using packed = step.alloc([(count - 1) * stride + WINDOW_FLOATS]); // the last window is bound whole
  using spare = step.alloc([WINDOW_FLOATS]);
  using sums = step.alloc([WINDOW_ROWS * N]);
  const window = (offset: number) => new UniformWindow(packed, offset * 4, WINDOW_FLOATS * 4);
  const unbound = new UniformWindow(spare, 0, WINDOW_FLOATS * 4);
  const all = (tile: d.Infer<typeof GemmTile>, stagedA: UniformWindow, scratch: typeof packed) =>
    ({ ...bindings, tile, stagedA, scratch }) as Bindings<E>;
  step.dispatch(pack, all(tileParams(shape), unbound, packed), grid1d(Math.ceil(shape.packed / 64)));
  const grid = grid1d(Math.ceil(N / variant.blockN));
  let w = 0;
  for (let g = 0; g < batch; g++) {
    for (let t = 0; t < tiles; t++) {
      const m0 = t * WINDOW_ROWS;
      for (let c = 0; c < chunks; c++, w++) {
        const tile = tileParams({
          ...shape,
          g,
          m0,
          k0: c * kc,
          kLen: Math.min(kc, K - c * kc),
          first: c === 0 ? 1 : 0,
        });
        step.dispatch(kernel, all(tile, window(w * stride), sums), grid);
      }
      const rows = Math.min(WINDOW_ROWS, M - m0);
      step.dispatch(finish, all(tileParams({ g, m0 }), unbound, sums), [...grid1d(Math.ceil(N / 64)), rows]);
    }
  }
}
