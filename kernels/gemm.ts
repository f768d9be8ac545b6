/**
 * The GEMM cores that matmul, the conv2d kernels and the Gram kernel are built on, the variants of
 * each, and the choice between them per adapter and per call shape.
 *
 * - `tiled` (gemm_tile.wgsl): 64 x 64 blocks staged in workgroup memory, for real GPUs.
 * - `register` (gemm_register.wgsl): no workgroup memory, operands straight from storage buffers.
 * - `window` (gemm_window.wgsl): for CPU-emulated adapters. A is packed into 64 KiB windows of 16
 *   or 32 rows, bound as uniform buffers, one dispatch per window; B is read through column/cursor
 *   accessors that do no division in the k loop. Below 8 rows of C it hands over to the register
 *   variants.
 *
 * On llvmpipe the window core is several times faster than the other two, and the tiled core
 * takes tens of seconds to JIT-compile there; bench/README.md has the figures, and what was tried
 * on the window core and dropped.
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

/** A window's size in floats: 64 KiB, WebGPU's guaranteed uniform binding size. */
const WINDOW_FLOATS = 16384;
/**
 * Window shapes: rows of C per window (gemm_window.wgsl's ROWS; a window then holds up to
 * WINDOW_FLOATS / ROWS values of k) and their speed relative to 16 rows, which decides
 * between them where 32 rows would pad M more (windowRowsFor). 32 rows read each value of B once
 * per 32 fmas instead of 16; the speeds are from A/B runs on llvmpipe (bench/README.md).
 */
const WINDOW_SHAPES = [{ rows: 16, speed: 1 }, { rows: 32, speed: 1.1 }] as const;
/** Below this many rows of C the window core's 16-row windows waste too much: register instead. */
const WINDOW_MIN_M = 8;
/** Workgroups per dispatch the window core aims for, so every CPU thread has work. */
const WINDOW_MIN_WORKGROUPS = 8;
/**
 * The longest k loop a single invocation may run. llvmpipe ends every loop of a shader once 65,535
 * back-edges are taken in all (Mesa's LP_MAX_TGSI_LOOP_ITERATIONS), silently: a register or tiled
 * core over a longer K would return a partial sum. The window core splits K into windows of at
 * most 1,024 values, one dispatch each, so a longer K goes there whatever M is.
 */
export const MAX_LOOP_K = 32768;

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

/**
 * The window core's variants per window shape: WG invocations along N, RN columns x ROWS rows
 * each; the narrower one keeps small N parallel (measured on llvmpipe: bench/README.md).
 */
const WINDOW_VARIANTS: readonly GemmVariant[] = WINDOW_SHAPES.flatMap(({ rows }) =>
  [64, 16].map((wg) => ({
    name: `window${rows}_8x${wg}`,
    file: "gemm_window.wgsl",
    cores: ["window"] as const,
    blockM: rows,
    blockN: 8 * wg,
    minM: WINDOW_MIN_M,
    constants: { ROWS: rows, RN: 8, WG: wg },
  }))
);

/**
 * The register core's variants: 64 invocations along N, RM rows x RN columns each. The window core
 * hands small M to the two narrow ones; the 1-row one takes every M.
 */
const REGISTER_VARIANTS: readonly GemmVariant[] = ([
  [16, 2, ["register"]],
  [4, 4, ["register", "window"]],
  [1, 8, ["register", "window"]],
] as const).map(([rows, columns, cores]) => ({
  name: `register${rows}x${columns}`,
  file: "gemm_register.wgsl",
  cores,
  blockM: rows,
  blockN: 64 * columns,
  minM: rows > 1 ? rows : 0,
  constants: { RM: rows, RN: columns },
}));

const VARIANTS: readonly GemmVariant[] = [
  { name: "tiled", file: "gemm_tile.wgsl", cores: ["tiled"], blockM: 64, blockN: 64, minM: 0, constants: {} },
  ...REGISTER_VARIANTS,
  ...WINDOW_VARIANTS,
];

/** The core that suits an adapter: window for CPU emulation (fallback adapters), else tiled. */
export function gemmCoreFor(adapter: AdapterReport): GemmCore {
  const software = /llvmpipe|lavapipe|swiftshader|warp|software/i.test(adapter.description);
  return adapter.isFallbackAdapter || software ? "window" : "tiled";
}

/** The window core's entry points besides `main`, per window shape: packing A, handing C to storeC. */
interface WindowEntries<T> {
  readonly rows: number;
  readonly pack: T;
  readonly finish: T;
}

/** A GEMM kernel's spec for every variant, and the window core's other entry points. */
export interface GemmSpecs<E extends KernelEntries> {
  readonly name: string;
  readonly variants: readonly { variant: GemmVariant; spec: KernelSpec<E> }[];
  readonly windows: readonly WindowEntries<KernelSpec<E>>[];
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
  const windows = WINDOW_SHAPES.map(({ rows }) => {
    const code = variants.find((v) => v.variant.constants.ROWS === rows)!.spec.code;
    return {
      rows,
      pack: defineKernel(`${name}_pack${rows}`, layout, code, "pack"),
      finish: defineKernel(`${name}_finish${rows}`, layout, code, "finish"),
    };
  });
  return { name, variants, windows };
}

/** A GEMM kernel compiled for one core, in all of that core's variants. */
export interface GemmKernel<E extends KernelEntries> {
  readonly core: GemmCore;
  readonly variants: readonly { variant: GemmVariant; kernel: Kernel<E> }[];
  /** The window core's other entry points per window shape (window core only, else empty). */
  readonly windows: readonly WindowEntries<Kernel<E>>[];
}

/** Compiles a GEMM kernel with the adapter's core, or with `core` when given (tests use each). */
export async function compileGemm<E extends KernelEntries>(
  gpu: Gpu,
  specs: GemmSpecs<E>,
  core: GemmCore = gemmCoreFor(gpu.adapter),
): Promise<GemmKernel<E>> {
  const chosen = specs.variants.filter((v) => v.variant.cores.includes(core));
  const [kernels, windows] = await Promise.all([
    Promise.all(chosen.map((v) => gpu.kernel(v.spec))),
    Promise.all(
      (core === "window" ? specs.windows : []).map(async ({ rows, pack, finish }) => ({
        rows,
        pack: await gpu.kernel(pack),
        finish: await gpu.kernel(finish),
      })),
    ),
  ]);
  return { core, variants: chosen.map((v, i) => ({ variant: v.variant, kernel: kernels[i] })), windows };
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
  if (gemm.windows.length > 0 && (M >= WINDOW_MIN_M || K > MAX_LOOP_K)) {
    const rows = windowRowsFor(M);
    const windows = gemm.variants.filter((v) => v.variant.file === "gemm_window.wgsl" && v.variant.blockM === rows);
    // The widest window variant that still gives every thread work (or the narrowest).
    const fits = windows.filter((v) => Math.ceil(N / v.variant.blockN) >= WINDOW_MIN_WORKGROUPS);
    const chosen = fits.length > 0 ? fits[0] : windows[windows.length - 1];
    recordWindowed(step, gemm.windows.find((w) => w.rows === rows)!, chosen, bindings, { M, N, K, batch });
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

/** The window shape with the least expected time for M rows: rows padded to whole windows, over speed. */
function windowRowsFor(M: number): number {
  const time = ({ rows, speed }: { rows: number; speed: number }) => Math.ceil(M / rows) * rows / speed;
  return WINDOW_SHAPES.reduce((best, shape) => (time(shape) < time(best) ? shape : best)).rows;
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
  { rows: windowRows, pack, finish }: WindowEntries<Kernel<E>>,
  { variant, kernel }: { variant: GemmVariant; kernel: Kernel<E> },
  bindings: CallerBindings<E>,
  { M, N, K, batch }: { M: number; N: number; K: number; batch: number },
): void {
  // K split evenly over the fewest windows (576 = 288 + 288, not 512 + 64); a window's byte size
  // stays a multiple of 256.
  const chunks = Math.ceil(K / (WINDOW_FLOATS / windowRows));
  const kc = Math.ceil(K / chunks / 4) * 4;
  const tiles = Math.ceil(M / windowRows);
  const stride = windowRows * kc;
  const count = batch * tiles * chunks;
  const shape = { packed: count * stride, stride, chunks, tiles, kc };
  using packed = step.alloc([(count - 1) * stride + WINDOW_FLOATS]); // the last window is bound whole
  using spare = step.alloc([WINDOW_FLOATS]);
  using sums = step.alloc([windowRows * N]);
  const window = (offset: number) => new UniformWindow(packed, offset * 4, WINDOW_FLOATS * 4);
  const unbound = new UniformWindow(spare, 0, WINDOW_FLOATS * 4);
  const all = (tile: d.Infer<typeof GemmTile>, stagedA: UniformWindow, scratch: typeof packed) =>
    ({ ...bindings, tile, stagedA, scratch }) as Bindings<E>;
  step.dispatch(pack, all(tileParams(shape), unbound, packed), grid1d(Math.ceil(shape.packed / 64)));
  const grid = grid1d(Math.ceil(N / variant.blockN));
  let w = 0;
  for (let g = 0; g < batch; g++) {
    for (let t = 0; t < tiles; t++) {
      const m0 = t * windowRows;
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
      const rows = Math.min(windowRows, M - m0);
      step.dispatch(finish, all(tileParams({ g, m0 }), unbound, sums), [...grid1d(Math.ceil(N / 64)), rows]);
    }
  }
}
