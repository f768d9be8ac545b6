/**
 * The bias stage's feature store, bounded twice and said before the batch pass starts:
 *
 * - rows per predicted class: each example gets a seeded random priority from its index alone
 *   (samplePriority), and a class keeps the `rowsPerClass` rows of lowest priority (bottom-k
 *   sampling, a weighted reservoir sample with equal weights), so each class holds a uniform
 *   sample of its pool whatever the set's size. Which rows are kept does not depend on the order
 *   they come in: the lowest of the shards' lowest are a single pass's (shards.ts). This bounds
 *   the bias stage's time: MMD-critic's Gram work grows with the square of a class's rows
 *   (bias/mmd_critic.ts, mmdCriticWorkBound).
 * - memory: at most `budgetBytes` of feature rows are held, in an arena of reused rows; when the
 *   next row would exceed it, the held rows go to disk as one segment (feature_spill.ts) and the
 *   arena starts again from empty. The bias stage then reads the rows back one class at a time.
 *
 * Which rows are kept depends on the seed and the predictions only, never on the budget or the
 * order: the reservoir keeps row numbers, and the budget decides only where each kept row's
 * features lie.
 * Index, label and prediction are kept for every row (the group rates need them all).
 *
 * @example
 * ```ts
 * import type { ImagePrediction } from "./evaluate.ts";
 * declare const rows: Float32Array, predictions: ImagePrediction[];
 * const plan = planFeatures({ classes: 10, width: 64, rowsPerClass: 256, images: 2000, budgetBytes: 2 ** 20, picks: 12 });
 * console.error(describeFeaturePlan(plan));
 * const store = new FeatureStore(plan, "flatten", 1, "audit-report/partial");
 * await store.add(rows, predictions);
 * const table = store.finish(predictions);
 * ```
 */
import { mmdCriticWorkBound } from "../bias/mmd_critic.ts";
import type { FeatureTable } from "../explain/features.ts";
import { mulberry32 } from "../io/prng.ts";
import type { ImagePrediction } from "./evaluate.ts";
import { FeatureSpill } from "./feature_spill.ts";

const MIB = 2 ** 20;

/** The store's bounds, known once the model and the data are: before the batch pass. */
export interface FeaturePlan {
  classes: number;
  /** Floats per feature row. */
  width: number;
  rowsPerClass: number;
  /** Rows kept at most: min(images, classes x rowsPerClass). */
  rows: number;
  /** Their bytes: rows x width x 4. */
  bytes: number;
  /** Bytes of feature rows held in memory at most (one row when a row is larger). */
  budgetBytes: number;
  /** Whether the kept rows may exceed the budget, so that some go to disk. */
  spills: boolean;
  /** Upper bound on MMD-critic's Gram work over every class, in multiply-adds. */
  multiplyAdds: number;
}

/**
 * The plan for `images` images of `classes` classes, features `width` wide, with `picks`
 * prototypes and criticisms per class.
 *
 * @example
 * ```ts
 * const plan = planFeatures({ classes: 1000, width: 2048, rowsPerClass: 2048, images: 50_000, budgetBytes: 2 ** 30, picks: 12 });
 * console.log(plan.bytes / 2 ** 20, plan.spills); // 390.625 false
 * ```
 */
export function planFeatures(sizes: {
  classes: number;
  width: number;
  rowsPerClass: number;
  images: number;
  budgetBytes: number;
  picks: number;
}): FeaturePlan {
  const { classes, width, rowsPerClass, images, budgetBytes, picks } = sizes;
  const rows = Math.min(images, classes * rowsPerClass);
  const bytes = rows * width * 4;
  const multiplyAdds = mmdCriticWorkBound({ rows, rowsPerClass, classes, width, picks });
  return { classes, width, rowsPerClass, rows, bytes, budgetBytes, spills: bytes > budgetBytes, multiplyAdds };
}

/**
 * The plan in one line, for the user before the batch pass.
 *
 * @example
 * ```ts
 * declare const plan: FeaturePlan;
 * console.error(`audit: ${describeFeaturePlan(plan)}`);
 * ```
 */
export function describeFeaturePlan(plan: FeaturePlan): string {
  const mib = (bytes: number) => `${bytes < 10 * MIB ? (bytes / MIB).toPrecision(3) : (bytes / MIB).toFixed(0)} MiB`;
  const where = plan.spills
    ? `budget ${mib(plan.budgetBytes)}: rows beyond it go to disk`
    : `budget ${mib(plan.budgetBytes)}: held in memory`;
  const work = plan.multiplyAdds < 1e12
    ? `${(plan.multiplyAdds / 1e9).toPrecision(3)} G`
    : `${(plan.multiplyAdds / 1e12).toPrecision(3)} T`;
  return `bias stage: <= ${plan.rowsPerClass} feature rows per class x ${plan.classes} classes x ${plan.width} wide, ` +
    `<= ${plan.rows} rows = ${mib(plan.bytes)} (${where}); MMD-critic <= ${work} multiply-adds`;
}

/** What the store did with its plan. */
export interface StoredFeatures extends FeaturePlan {
  /** Rows kept at the end. */
  keptRows: number;
  /** Whether some rows went to disk. */
  spilled: boolean;
  /** The most bytes of feature rows held in memory at once. */
  peakHeldBytes: number;
}

/**
 * The priority that ranks an example in its class's sample: the `index`-th draw of mulberry32
 * seeded from `seed` (its stream read at random: draw n's state is the seed plus n increments).
 *
 * @example
 * ```ts
 * const kept = [5, 1, 9].sort((a, b) => samplePriority(1, a) - samplePriority(1, b)).slice(0, 2);
 * ```
 */
export function samplePriority(seed: number, index: number): number {
  return mulberry32((((seed ^ 0xfea7) >>> 0) + Math.imul(index, 0x6d2b79f5)) >>> 0)();
}

/** A class's slots as a max-heap on (priority, index): its root is the kept row a better one replaces. */
class SlotHeap {
  readonly priority: number[] = [];
  readonly index: number[] = [];
  readonly #heap: number[] = [];

  get size(): number {
    return this.#heap.length;
  }

  /** The slot of the kept row of highest priority. */
  get top(): number {
    return this.#heap[0];
  }

  /** Whether (priority, index) ranks below the slot's row. */
  below(priority: number, index: number, slot: number): boolean {
    return priority < this.priority[slot] || (priority === this.priority[slot] && index < this.index[slot]);
  }

  /** A new slot, the next free one. */
  push(priority: number, index: number): number {
    const slot = this.#heap.length;
    [this.priority[slot], this.index[slot]] = [priority, index];
    this.#heap.push(slot);
    for (let at = slot; at > 0;) {
      const up = (at - 1) >> 1;
      if (!this.#above(this.#heap[at], this.#heap[up])) break;
      [this.#heap[at], this.#heap[up]] = [this.#heap[up], this.#heap[at]];
      at = up;
    }
    return slot;
  }

  /** Gives the top slot to a row of lower priority; returns the slot. */
  replaceTop(priority: number, index: number): number {
    const heap = this.#heap, slot = heap[0];
    [this.priority[slot], this.index[slot]] = [priority, index];
    for (let at = 0;;) {
      const [l, r] = [2 * at + 1, 2 * at + 2];
      let largest = at;
      if (l < heap.length && this.#above(heap[l], heap[largest])) largest = l;
      if (r < heap.length && this.#above(heap[r], heap[largest])) largest = r;
      if (largest === at) return slot;
      [heap[at], heap[largest]] = [heap[largest], heap[at]];
      at = largest;
    }
  }

  #above(a: number, b: number): boolean {
    return this.below(this.priority[b], this.index[b], a);
  }
}

interface Reservoir {
  /** The slots by priority. */
  heap: SlotHeap;
  /** The table row in each slot. */
  rows: number[];
  /** The slots held in memory, and their rows of the arena. */
  held: Map<number, number>;
  /** Where on disk the other slots' features are. */
  segment: number[];
  position: number[];
}

/**
 * The held rows: fixed rows in blocks of at most 8 MiB, allocated as they fill and reused after
 * each spill, never more than `capacity` rows in all (so memory stays within the budget, with no
 * garbage of evicted or spilled rows waiting for the collector).
 */
class RowArena {
  #blocks: Float32Array[] = [];
  #blockRows: number;
  used = 0;

  constructor(readonly width: number, readonly capacity: number) {
    this.#blockRows = Math.max(1, Math.min(capacity, Math.floor(8 * MIB / (4 * width))));
  }

  /** A free row's number. */
  take(): number {
    if (this.used === this.#blocks.length * this.#blockRows) {
      const rows = Math.min(this.#blockRows, this.capacity - this.used);
      this.#blocks.push(new Float32Array(rows * this.width));
    }
    return this.used++;
  }

  row(i: number): Float32Array {
    const block = this.#blocks[Math.floor(i / this.#blockRows)], at = (i % this.#blockRows) * this.width;
    return block.subarray(at, at + this.width);
  }

  /** Every row free again. */
  clear(): void {
    this.used = 0;
  }
}

/** The bounded feature store of the batch pass (see the module's comment). */
export class FeatureStore {
  #classes = new Map<number, Reservoir>();
  #seed: number;
  #row = 0;
  #arena: RowArena;
  #peakRows = 0;
  #spill: FeatureSpill | null;

  /** `spillDir`: where rows beyond the budget go; required when the plan says it spills. */
  constructor(readonly plan: FeaturePlan, readonly node: string, seed: number, spillDir: string | null) {
    this.#seed = seed;
    if (plan.spills && spillDir === null) throw new Error("features: the store exceeds its budget and has no folder");
    this.#spill = spillDir === null ? null : new FeatureSpill(spillDir, plan.width);
    this.#arena = new RowArena(plan.width, Math.max(1, Math.floor(plan.budgetBytes / (4 * plan.width))));
  }

  /** The next batch's feature rows ([predictions, width]); null when the batch has none. */
  async add(rows: Float32Array | null, predictions: readonly ImagePrediction[]): Promise<void> {
    if (!rows) return;
    const { width, rowsPerClass } = this.plan;
    for (let i = 0; i < predictions.length; i++) {
      const row = this.#row++;
      const label = predictions[i].top[0];
      const kept = this.#classes.get(label) ??
        { heap: new SlotHeap(), rows: [], held: new Map(), segment: [], position: [] };
      this.#classes.set(label, kept);
      const { index } = predictions[i], priority = samplePriority(this.#seed, index);
      let slot: number;
      if (kept.heap.size < rowsPerClass) slot = kept.heap.push(priority, index);
      else if (kept.heap.below(priority, index, kept.heap.top)) slot = kept.heap.replaceTop(priority, index);
      else continue;
      if (!kept.held.has(slot)) {
        if (this.#arena.used === this.#arena.capacity) await this.#flush();
        kept.held.set(slot, this.#arena.take());
        this.#peakRows = Math.max(this.#peakRows, this.#arena.used);
      }
      kept.rows[slot] = row;
      this.#arena.row(kept.held.get(slot)!).set(rows.subarray(i * width, (i + 1) * width));
    }
  }

  /** The held rows to disk, class by class (a class's rows lie together in the segment). */
  async #flush(): Promise<void> {
    if (!this.#spill) throw new Error("features: the store exceeds its budget and has no folder");
    const order = [...this.#classes.entries()].sort((a, b) => a[0] - b[0]).map(([, kept]) => kept);
    const rows = order.flatMap((kept) => [...kept.held.values()].map((i) => this.#arena.row(i)));
    const segment = await this.#spill.write(rows);
    let position = 0;
    for (const kept of order) {
      for (const slot of kept.held.keys()) [kept.segment[slot], kept.position[slot]] = [segment, position++];
      kept.held.clear();
    }
    this.#arena.clear();
  }

  /** What the store did, so far. */
  get stored(): StoredFeatures {
    const keptRows = [...this.#classes.values()].reduce((n, kept) => n + kept.rows.length, 0);
    return {
      ...this.plan,
      keptRows,
      spilled: (this.#spill?.segments ?? 0) > 0,
      peakHeldBytes: this.#peakRows * this.plan.width * 4,
    };
  }

  /**
   * The table of every row added (`predictions`: all of them, in order), whose kept rows' features
   * `readSlots` gives from memory or from disk.
   */
  finish(predictions: readonly ImagePrediction[]): FeatureTable {
    const { width, classes } = this.plan;
    const kept = [...this.#classes.values()].flatMap((c) => c.rows.map((row, slot) => ({ row, slot, of: c })));
    kept.sort((a, b) => a.row - b.row);
    const slots = new Int32Array(predictions.length).fill(-1);
    kept.forEach((k, i) => (slots[k.row] = i));
    const [spill, arena] = [this.#spill, this.#arena];
    return {
      count: predictions.length,
      width,
      classes,
      node: this.node,
      indices: Int32Array.from(predictions, (p) => p.index),
      labels: Int32Array.from(predictions, (p) => p.label),
      features: new Float32Array(0),
      predicted: Int32Array.from(predictions, (p) => p.top[0]),
      slots,
      async readSlots(wanted) {
        const out = new Float32Array(wanted.length * width);
        const onDisk: number[] = [];
        wanted.forEach((s, i) => {
          const { slot, of } = kept[s];
          const held = of.held.get(slot);
          if (held !== undefined) out.set(arena.row(held), i * width);
          else onDisk.push(i);
        });
        if (onDisk.length === 0) return out;
        const at = (i: number) => kept[wanted[i]];
        const rows = await spill!.read(
          onDisk.map((i) => at(i).of.segment[at(i).slot]),
          onDisk.map((i) => at(i).of.position[at(i).slot]),
        );
        onDisk.forEach((i, j) => out.set(rows.subarray(j * width, (j + 1) * width), i * width));
        return out;
      },
    };
  }
}
