/**
 * The GEMM cores that matmul, the conv2d kernels and the Gram kernel are built on, the variants of
 * each, and the choice between them per adapter and per call shape.
 *
 * - `tiled` (gemm_tile.wgsl): 64 x 64 blocks staged in workgroup memory, for real GPUs.
 * - `register` (gemm_register.wgsl): no workgroup memory, operands straight from storage buffers.
 * - `window` (gemm_window.wgsl): for CPU-emulated adapters. A is packed into 64 KiB windows of 16
 *   or 32 rows, bound as uniform buffers, one dispatch per window; B is read through column/cursor
 *   accessors that do no division in the k loop. Below 8 rows of C it hands over to the register
 *   variants. A kernel that also gives A column/cursor accessors (`swappable`) can run swapped,
 *   B packed and A streamed, which `recordGemm` chooses where that means fewer dispatches that
 *   keep every thread busy (few columns n, many rows m: the late layers of an ImageNet ConvNet).
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
import { type AdapterReport, type Gpu, grid1d, MAX_WORKGROUPS_PER_DIM, type Step } from "./gpu.ts";
import { LOOP_CHUNK } from "./loop_limit.ts";
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

/**
 * A GEMM core. `window-swapped` is the window core with every swappable kernel forced into the
 * swapped orientation, for tests; `window` chooses the orientation per call.
 */
export type GemmCore = "tiled" | "register" | "window" | "window-swapped";

/** Every core (tests check each against the oracle, whatever the adapter). */
export const GEMM_CORES: readonly GemmCore[] = ["tiled", "register", "window"];

/** The cores plus the forced swapped orientation, for kernels defined `swappable`. */
export const SWAPPABLE_GEMM_CORES: readonly GemmCore[] = [...GEMM_CORES, "window-swapped"];

/** The cores that run the window core's variants. */
const WINDOW_CORES: readonly GemmCore[] = ["window", "window-swapped"];

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
 * The longest k loop a single invocation may run: llvmpipe's loop limit (loop_limit.ts) would end
 * a register or tiled core's longer loop silently, with a partial sum. The window core splits K
 * into windows of at most 1,024 values, one dispatch each, so a longer K goes there whatever M is.
 */
export const MAX_LOOP_K = LOOP_CHUNK;

/** The window core's per-dispatch uniform (gemm_window.wgsl). */
const GemmTile = d.struct({
  g: d.u32,
  m0: d.u32,
  k0: d.u32,
  kLen: d.u32,
  first: d.u32,
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
  /** A window variant in the swapped orientation (windowOrientation). */
  swapped: boolean;
}

/**
 * The window core's variants per window shape: WG invocations along N, RN columns x ROWS rows
 * each; the narrower one keeps small N parallel (measured on llvmpipe: bench/README.md).
 */
const WINDOW_VARIANTS: readonly GemmVariant[] = [false, true].flatMap((swapped) =>
  WINDOW_SHAPES.flatMap(({ rows }) =>
    [64, 16].map((wg) => ({
      name: `window${rows}_8x${wg}${swapped ? "_swapped" : ""}`,
      file: "gemm_window.wgsl",
      cores: WINDOW_CORES,
      blockM: rows,
      blockN: 8 * wg,
      minM: WINDOW_MIN_M,
      constants: { ROWS: rows, RN: 8, WG: wg },
      swapped,
    }))
  )
);

/**
 * The register core's variants: 64 invocations along N, RM rows x RN columns each. The window core
 * hands small M to the two narrow ones; the 1-row one takes every M.
 */
const REGISTER_VARIANTS: readonly GemmVariant[] = ([
  [16, 2, ["register"]],
  [4, 4, ["register", ...WINDOW_CORES]],
  [1, 8, ["register", ...WINDOW_CORES]],
] as const).map(([rows, columns, cores]) => ({
  name: `register${rows}x${columns}`,
  file: "gemm_register.wgsl",
  cores,
  blockM: rows,
  blockN: 64 * columns,
  minM: rows > 1 ? rows : 0,
  constants: { RM: rows, RN: columns },
  swapped: false,
}));

const VARIANTS: readonly GemmVariant[] = [
  {
    name: "tiled",
    file: "gemm_tile.wgsl",
    cores: ["tiled"],
    blockM: 64,
    blockN: 64,
    minM: 0,
    constants: {},
    swapped: false,
  },
  ...REGISTER_VARIANTS,
  ...WINDOW_VARIANTS,
];

/** The core that suits an adapter: window for CPU emulation (fallback adapters), else tiled. */
export function gemmCoreFor(adapter: AdapterReport): GemmCore {
  const software = /llvmpipe|lavapipe|swiftshader|warp|software/i.test(adapter.description);
  return adapter.isFallbackAdapter || software ? "window" : "tiled";
}

/** The window core's entry points besides `main`, per window shape and orientation: packing, handing C to storeC. */
interface WindowEntries<T> {
  readonly rows: number;
  readonly swapped: boolean;
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
 * BCursor, bColumn, bCursor, bAt, bNext) and storeC. `layout` must spread `gemmEntries`. With
 * `swappable`, the accessors also give A's column/cursor accessors (AColumn, ACursor, aColumn,
 * aCursor, aAt, aNext: a column is a row m of A, the cursor walks its k), and the window core may
 * run the kernel swapped (windowOrientation).
 */
export function defineGemmKernels<E extends KernelEntries>(
  name: string,
  layout: TgpuBindGroupLayout<E>,
  accessors: string,
  options: { swappable?: boolean } = {},
): GemmSpecs<E> {
  const variants = VARIANTS.filter((v) => !v.swapped || options.swappable).map((variant) => {
    const core = specializeConstants(readWgsl(import.meta.url, variant.file), variant.constants);
    const label = variant.name === "tiled" ? name : `${name}_${variant.name}`;
    const orientation = variant.file === "gemm_window.wgsl" ? windowOrientation(variant.swapped) : "";
    return { variant, spec: defineKernel(label, layout, `${accessors}\n${orientation}\n${core}`) };
  });
  const windows = variants.filter((v) => v.variant.file === "gemm_window.wgsl" && v.variant.constants.WG === 64)
    .map(({ variant: { blockM: rows, swapped }, spec: { code } }) => {
      const suffix = `${rows}${swapped ? "_swapped" : ""}`;
      return {
        rows,
        swapped,
        pack: defineKernel(`${name}_pack${suffix}`, layout, code, "pack"),
        finish: defineKernel(`${name}_finish${suffix}`, layout, code, "finish"),
      };
    });
  return { name, variants, windows };
}

/**
 * The window core's orientation (gemm_window.wgsl's packLoad, the streamed operand's
 * sColumn/sCursor/sNext/sAt, gemmRows/gemmColumns, finishStore) in terms of a kernel's accessors.
 * Normally the window rows are rows m of A (packed through loadA) and the streamed columns are
 * columns n of B. Swapped (C transposed = B transposed x A transposed), the window rows are
 * columns n of B, packed through B's accessors set up afresh per value (packing reads each value
 * once), and the columns are rows m of A, read through A's column/cursor accessors.
 */
function windowOrientation(swapped: boolean): string {
  const [streamed, s, rows, columns] = swapped ? ["A", "a", "N", "M"] : ["B", "b", "M", "N"];
  const packLoad = swapped ? "bAt(bColumn(g, r), bCursor(g, k))" : "loadA(g, r, k)";
  const store = swapped ? "storeC(g, c, r, v)" : "storeC(g, r, c, v)";
  return `
alias SColumn = ${streamed}Column;
alias SCursor = ${streamed}Cursor;
fn gemmRows() -> u32 { return layout.$.params.${rows}; }
fn gemmColumns() -> u32 { return layout.$.params.${columns}; }
fn packLoad(g: u32, r: u32, k: u32) -> f32 { return ${packLoad}; }
fn sColumn(g: u32, c: u32) -> SColumn { return ${s}Column(g, c); }
fn sCursor(g: u32, k: u32) -> SCursor { return ${s}Cursor(g, k); }
fn sNext(cursor: SCursor) -> SCursor { return ${s}Next(cursor); }
fn sAt(column: SColumn, cursor: SCursor) -> f32 { return ${s}At(column, cursor); }
fn finishStore(g: u32, r: u32, c: u32, v: f32) { ${store}; }
`;
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
      (WINDOW_CORES.includes(core) ? specs.windows : []).map(async ({ rows, swapped, pack, finish }) => ({
        rows,
        swapped,
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
  const plan = gemm.windows.length > 0 ? windowPlanFor(gemm, { M, N, K, batch }, step.bindingLimit) : undefined;
  if (plan && takesWindows(plan, { M, K })) {
    const { swapped, windowRows, rows, columns } = plan;
    const windows = gemm.variants.filter((v) =>
      v.variant.file === "gemm_window.wgsl" && v.variant.blockM === windowRows && v.variant.swapped === swapped
    );
    // The widest window variant that still gives every thread work (or the narrowest).
    const fits = windows.filter((v) => Math.ceil(columns / v.variant.blockN) >= WINDOW_MIN_WORKGROUPS);
    const chosen = fits.length > 0 ? fits[0] : windows[windows.length - 1];
    const entries = gemm.windows.find((w) => w.rows === windowRows && w.swapped === swapped)!;
    recordWindowed(step, entries, chosen, bindings, { rows, columns, K, batch });
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

/** A GEMM call laid out on the window core in one orientation: window rows x streamed columns. */
interface WindowPlan {
  swapped: boolean;
  /** The dimension packed into windows: M, or N when swapped. */
  rows: number;
  /** The streamed dimension: N, or M when swapped. */
  columns: number;
  windowRows: number;
  /** Values of the packed windows' buffer: the window rows padded to whole windows, times K. */
  packedValues: number;
  /** Expected microseconds on llvmpipe (the model in `windowPlan`). */
  cost: number;
}

/**
 * The orientation to run a call in: the forced one for `window-swapped`, else the cheaper one
 * where the kernel is swappable, else the normal one.
 */
function windowPlanFor<E extends KernelEntries>(
  gemm: GemmKernel<E>,
  call: GemmCall,
  bindingLimit: number,
): WindowPlan {
  const swappable = gemm.windows.some((w) => w.swapped);
  return choosePlan(call, { swappable, forceSwapped: gemm.core === "window-swapped", bindingLimit });
}

/** A GEMM call's sizes: C is M x N over K, `batch` times. */
interface GemmCall {
  M: number;
  N: number;
  K: number;
  batch: number;
}

function choosePlan(
  call: GemmCall,
  { swappable, forceSwapped, bindingLimit }: { swappable: boolean; forceSwapped: boolean; bindingLimit: number },
): WindowPlan {
  const normal = windowPlan(false, call);
  const swapped = windowPlan(true, call);
  // Packed B must fit one binding, as packed A must (callers split A that would not).
  const fits = swapped.packedValues * 4 <= bindingLimit;
  if (!swappable || !fits) return normal;
  if (forceSwapped) return swapped;
  return swapped.cost < normal.cost ? swapped : normal;
}

/** Whether the window core takes a call laid out by `plan` (below 8 rows, normal, the register core does). */
function takesWindows(plan: WindowPlan, { M, K }: { M: number; K: number }): boolean {
  return plan.swapped || M >= WINDOW_MIN_M || K > MAX_LOOP_K;
}

/**
 * The values of each buffer a GEMM call allocates on the window core (packed windows, the spare
 * window, the sums) or the register core (its two placeholders), for a replay of a pass's memory:
 * the orientation is the one `recordGemm` chooses at `bindingLimit` for a kernel defined
 * `swappable` or not. The tiled core allocates only the placeholders, so this bounds it.
 */
export function gemmStagingValues(call: GemmCall, options: { swappable: boolean; bindingLimit: number }): number[] {
  const plan = choosePlan(call, { ...options, forceSwapped: false });
  if (!takesWindows(plan, call)) return [WINDOW_FLOATS, 1];
  const { packedValues, sumValues } = windowLayout(plan.rows, plan.columns, call.K, call.batch, plan.windowRows);
  return [packedValues, WINDOW_FLOATS, sumValues];
}

/**
 * How the window core lays a call out: K split evenly over the fewest windows (576 = 288 + 288,
 * not 512 + 64; a window's byte size stays a multiple of 256), the row tiles, and the values of
 * the packed windows (the last one bound whole) and of the sums (every row tile's, so one finish
 * dispatch per group hands them all on).
 */
function windowLayout(rows: number, columns: number, K: number, batch: number, windowRows: number) {
  const chunks = Math.ceil(K / (WINDOW_FLOATS / windowRows));
  const kc = Math.ceil(K / chunks / 4) * 4;
  const tiles = Math.ceil(rows / windowRows);
  const stride = windowRows * kc;
  const count = batch * tiles * chunks;
  return {
    chunks,
    kc,
    tiles,
    stride,
    packedValues: (count - 1) * stride + WINDOW_FLOATS,
    sumValues: tiles * windowRows * columns,
  };
}

/** Fixed cost of one dispatch on llvmpipe, microseconds (the least a dispatch takes in a ResNet-50 pass). */
const DISPATCH_MICROS = 60;
/** Window-core fmas per microsecond on one llvmpipe thread (ResNet-50's late layers, one workgroup each). */
const FMAS_PER_MICRO = 4000;
/** Microseconds to pack one value (ResNet-50's pack dispatches: 2.4 M values in 21 ms). */
const PACK_MICROS = 0.009;

/**
 * A call's expected time in one orientation: its dispatches' fixed cost, the packing, and its
 * padded fmas spread over the threads its workgroups keep busy (llvmpipe runs one thread per CPU,
 * and a dispatch ends when its last workgroup does). Both orientations add each output's products
 * in the order of k; they differ in where a window's partial sums meet (windows of 16 rows take
 * twice the k of 32-row ones), a float32 rounding difference.
 */
function windowPlan(swapped: boolean, { M, N, K, batch }: GemmCall): WindowPlan {
  const [rows, columns] = swapped ? [N, M] : [M, N];
  const windowRows = windowRowsFor(rows);
  const { tiles, chunks, packedValues } = windowLayout(rows, columns, K, batch, windowRows);
  const dispatches = batch * (tiles * chunks + 1) + 1;
  const threads = navigator.hardwareConcurrency || 1;
  const workgroups = Math.ceil(columns / NARROW_BLOCK_N);
  const busy = workgroups / (Math.ceil(workgroups / threads) * threads);
  const fmas = batch * tiles * windowRows * K * columns;
  const cost = dispatches * DISPATCH_MICROS + packedValues * PACK_MICROS + fmas / (FMAS_PER_MICRO * threads * busy);
  return { swapped, rows, columns, windowRows, packedValues, cost };
}

/** Columns per workgroup of the narrowest window variant. */
const NARROW_BLOCK_N = Math.min(...WINDOW_VARIANTS.map((v) => v.blockN));

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
  const zero = { g: 0, m0: 0, k0: 0, kLen: 0, first: 0, stride: 0, chunks: 1, tiles: 1, kc: 0 };
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
  { rows: M, columns: N, K, batch }: { rows: number; columns: number; K: number; batch: number },
): void {
  // M and N here are the window rows and the streamed columns, whichever operands they are.
  const { chunks, kc, tiles, stride, packedValues, sumValues } = windowLayout(M, N, K, batch, windowRows);
  const shape = { stride, chunks, tiles, kc };
  using packed = step.alloc([packedValues]);
  using spare = step.alloc([WINDOW_FLOATS]);
  using sums = step.alloc([sumValues]);
  const window = (offset: number) => new UniformWindow(packed, offset * 4, WINDOW_FLOATS * 4);
  const unbound = new UniformWindow(spare, 0, WINDOW_FLOATS * 4);
  const all = (tile: d.Infer<typeof GemmTile>, stagedA: UniformWindow, scratch: typeof packed) =>
    ({ ...bindings, tile, stagedA, scratch }) as Bindings<E>;
  for (let first = 0; first < batch * tiles; first += MAX_WORKGROUPS_PER_DIM) {
    const windows = Math.min(MAX_WORKGROUPS_PER_DIM, batch * tiles - first);
    step.dispatch(pack, all(tileParams({ ...shape, g: first }), unbound, packed), [
      Math.ceil(stride / 64),
      chunks,
      windows,
    ]);
  }
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
    }
    for (let m0 = 0; m0 < M; m0 += MAX_WORKGROUPS_PER_DIM) {
      const rows = Math.min(MAX_WORKGROUPS_PER_DIM, M - m0);
      step.dispatch(finish, all(tileParams({ g, m0 }), unbound, sums), [...grid1d(Math.ceil(N / 64)), rows]);
    }
  }
}
