/**
 * Slices of a class's mistakes without group labels: coherent subsets of the images predicted as
 * a class, in the model's own feature space, that hold far more mistakes (label != class) than the
 * rest of the class. After the Spotlight (d'Eon et al., AAAI 2022: the error rate of a kernel
 * neighbourhood of a point in the representation space, with a minimum size) and Domino
 * (Eyuboglu et al., ICLR 2022: error-aware regions of the embedding), seeded by MMD-critic:
 *
 * 1. The rows are split in two halves by a seeded permutation: discovery and holdout.
 * 2. Seeds: the class's criticisms (rows its prototypes represent worst) and a seeded sample of the
 *    discovery half's mistakes. For each seed, one Gram row k(seed, .) on the GPU (GramEngine).
 * 3. Each seed's slice is its t nearest discovery rows by that kernel, t >= `minSize`, chosen to
 *    maximise the two-proportion z of the slice's error rate against the rest's; the slice is then
 *    the kernel ball k >= the t-th value, over both halves.
 * 4. Slices overlapping a better one (Jaccard >= 0.5) are dropped; `maxSlices` are kept.
 * 5. Each slice is tested on the holdout half only (one-sided Fisher exact test of its holdout
 *    rows' error rate against the other holdout rows'): the half that chose it never tests it.
 *
 * Work per class of n rows of `width`: S = seeds Gram rows (S n width multiply-adds on the GPU,
 * S n floats read back) and S sorts of n on the CPU; at most `seeds` x rowsPerClass x width x classes
 * over the stage (1,000 classes x 2,048 rows x 2,048 wide x 32 seeds: 1.4e11 multiply-adds, 256 KiB
 * read back per class).
 *
 * @example
 * ```ts
 * import { Gpu } from "../../kernels/gpu.ts";
 * declare const features: Float32Array, mistakes: Uint8Array; // rows of 64 values; 1 = mistake
 * const slices = await findSlices(await Gpu.create(), { features, width: 64, mistakes, criticisms: [3], sigma: 2 });
 * ```
 */
import type { Gpu } from "../../kernels/gpu.ts";
import { seededPermutation } from "../io/prng.ts";
import { fisherGreater } from "./fisher.ts";
import { GramEngine } from "./gram.ts";
import { gammaOf } from "./mmd.ts";

export interface SliceOptions {
  /** Gram rows (seeds) per class at most (default 32). */
  seeds?: number;
  /** Discovery rows a slice holds at least (default 5). */
  minSize?: number;
  /** Slices kept per class at most (default 3). */
  maxSlices?: number;
  seed?: number;
  memoryBudget?: number;
}

export interface SliceInput {
  /** The class's feature rows [n, width]. */
  features: Float32Array;
  width: number;
  /** Per row: 1 when the image is a mistake (its label is not the class). */
  mistakes: Uint8Array;
  /** Row positions of the class's MMD-critic criticisms. */
  criticisms: readonly number[];
  /** RBF bandwidth (the class's MMD-critic sigma). */
  sigma: number;
}

/** Mistakes of a set of rows. */
export interface Count {
  size: number;
  mistakes: number;
}

export interface FoundSlice {
  /** Row position of the seed, and what it was. */
  seed: number;
  seedKind: "criticism" | "mistake";
  /** Row positions in the slice (both halves), nearest the seed first. */
  members: number[];
  /** The slice and the rest of the class, over all rows. */
  slice: Count;
  rest: Count;
  /** The same on the holdout half, and the one-sided Fisher p-value there. */
  holdout: { slice: Count; rest: Count };
  pValue: number;
}

/** The two-proportion z of k1/n1 against k2/n2 (0 when undefined). */
function zScore(k1: number, n1: number, k2: number, n2: number): number {
  const p = (k1 + k2) / (n1 + n2);
  const se = Math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2));
  return se > 0 ? (k1 / n1 - k2 / n2) / se : 0;
}

/** The seed rows: criticisms, then a seeded sample of discovery mistakes, `max` in all. */
function seedRows(input: SliceInput, discovery: Uint8Array, max: number, seed: number) {
  const seeds: { row: number; kind: "criticism" | "mistake" }[] = [];
  const taken = new Set<number>();
  for (const c of input.criticisms) {
    if (seeds.length >= max) break;
    seeds.push({ row: c, kind: "criticism" });
    taken.add(c);
  }
  const order = seededPermutation(input.mistakes.length, seed + 7);
  for (const row of order) {
    if (seeds.length >= max) break;
    if (input.mistakes[row] && discovery[row] && !taken.has(row)) seeds.push({ row, kind: "mistake" });
  }
  return seeds;
}

/** Jaccard overlap of two sorted position lists. */
function jaccard(a: readonly number[], b: readonly number[]): number {
  const set = new Set(a);
  const both = b.filter((x) => set.has(x)).length;
  return both / (a.length + b.length - both);
}

/** The slices of one class, best (largest discovery z) first. */
export async function findSlices(gpu: Gpu, input: SliceInput, options: SliceOptions = {}): Promise<FoundSlice[]> {
  const { width, mistakes } = input;
  const n = mistakes.length;
  const minSize = options.minSize ?? 5, seedValue = options.seed ?? 0;
  const discovery = new Uint8Array(n);
  seededPermutation(n, seedValue + 3).subarray(0, Math.floor(n / 2)).forEach((r) => (discovery[r] = 1));
  const discoveryRows = [...discovery.keys()].filter((r) => discovery[r]);
  const totalDiscovery = discoveryRows.reduce((s, r) => s + mistakes[r], 0);
  if (totalDiscovery === 0 || discoveryRows.length < 2 * minSize) return [];
  const seeds = seedRows(input, discovery, options.seeds ?? 32, seedValue);
  if (seeds.length === 0) return [];
  using engine = await GramEngine.create(gpu, input.features, width, { memoryBudget: options.memoryBudget });
  const kernel = await engine.rows(seeds.map((s) => s.row), gammaOf(input.sigma));
  const candidates: (FoundSlice & { z: number })[] = [];
  seeds.forEach(({ row, kind }, s) => {
    const k = kernel.subarray(s * n, (s + 1) * n);
    const near = discoveryRows.slice().sort((a, b) => k[b] - k[a]);
    let best = -1, bestZ = 0, inside = 0;
    near.forEach((r, t) => {
      inside += mistakes[r];
      const size = t + 1, restSize = near.length - size;
      if (size < minSize || restSize < minSize) return;
      const z = zScore(inside, size, totalDiscovery - inside, restSize);
      if (z > bestZ) (bestZ = z, best = t);
    });
    if (best < 0) return;
    const threshold = k[near[best]];
    const members = [...k.keys()].filter((r) => k[r] >= threshold).sort((a, b) => k[b] - k[a]);
    const inSlice = new Uint8Array(n);
    members.forEach((r) => (inSlice[r] = 1));
    const count = (keep: (r: number) => boolean): Count => {
      let size = 0, wrong = 0;
      for (let r = 0; r < n; r++) if (keep(r)) (size++, wrong += mistakes[r]);
      return { size, mistakes: wrong };
    };
    const holdout = {
      slice: count((r) => !discovery[r] && inSlice[r] === 1),
      rest: count((r) => !discovery[r] && inSlice[r] === 0),
    };
    candidates.push({
      seed: row,
      seedKind: kind,
      members,
      slice: count((r) => inSlice[r] === 1),
      rest: count((r) => inSlice[r] === 0),
      holdout,
      pValue: fisherGreater(holdout.slice.mistakes, holdout.slice.size, holdout.rest.mistakes, holdout.rest.size),
      z: bestZ,
    });
  });
  candidates.sort((a, b) => b.z - a.z);
  const kept: FoundSlice[] = [];
  for (const { z: _, ...c } of candidates) {
    if (kept.length >= (options.maxSlices ?? 3)) break;
    const sorted = c.members.slice().sort((a, b) => a - b);
    if (kept.some((k) => jaccard(k.members.slice().sort((a, b) => a - b), sorted) >= 0.5)) continue;
    kept.push(c);
  }
  return kept;
}

/** The Wilson score interval of k successes in n at z (default 1.96: 95%). */
export function wilsonInterval(k: number, n: number, z = 1.96): [number, number] {
  if (n === 0) return [0, 1];
  const p = k / n, z2 = z * z;
  const centre = (p + z2 / (2 * n)) / (1 + z2 / n);
  const half = (z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / (1 + z2 / n);
  return [Math.max(0, centre - half), Math.min(1, centre + half)];
}
