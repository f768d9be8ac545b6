/**
 * Sharded audits: shard I of N audits a contiguous run of whole batches (so its chunk files and
 * its resume work as a single run's do), writes them to `OUT/shards/I/` and, once every one is
 * there, `shard.json`, the record the merge checks. The merge (merge.ts) reads every shard's
 * record, refuses a set with a shard missing, unfinished or run with other inputs, and replays
 * the shards' chunks in the data's order through the whole-set stages: what a single run
 * computes, since everything a batch holds depends only on its global index, the seed and its
 * images (run_audit.ts).
 *
 * Shard numbers start at 0, as Slurm's array task ids (from `--array=0-3`) and Kubernetes'
 * `JOB_COMPLETION_INDEX` do.
 *
 * @example
 * ```ts
 * const shard = parseShard("auto", { SLURM_ARRAY_TASK_ID: "2", SLURM_ARRAY_TASK_COUNT: "4" }); // { index: 2, count: 4 }
 * const { first, end } = shardBatches(shard, 1000, 64); // batches 8 .. 11 of 16
 * const set = await ShardSet.read("audit-report"); // at merge time
 * console.log(set.count, first, end);
 * ```
 */
import { join } from "node:path";
import { z } from "zod";
import { isAtomicTemp, listFolder, pathExists, readJson, writeAtomic } from "../io/files.ts";
import { InputError } from "../io/input_error.ts";
import { removeOwnFiles } from "../io/out_folder.ts";
import { validated } from "../io/validated.ts";
import { type Chunk, type ChunkSource, ChunkStore, PARTIAL_DIR } from "./chunks.ts";
import { isSpillFile } from "./feature_spill.ts";

/** The folder, inside the report folder, that holds the shards' folders `0`, `1`, ... */
export const SHARDS_DIR = "shards";
/** A finished shard's record, in its folder. */
export const SHARD_RECORD = "shard.json";
/** Shards of one audit at most. */
export const MAX_SHARDS = 10_000;

/** Shard `index` of `count` (index from 0). */
export interface Shard {
  index: number;
  count: number;
}

/** A shard's batches: first .. end - 1. */
export interface BatchRange {
  first: number;
  end: number;
}

/** The shard's folder, relative to the report folder. */
export const shardFolder = (shard: Shard): string => join(SHARDS_DIR, String(shard.index));

const describeShard = (shard: Shard) => `shard ${shard.index}/${shard.count}`;

/** A shard as its record and its run.json name it. */
const shardName = (shard: Shard) => `${shard.index}/${shard.count}`;

/**
 * `--shard I/N`, or `auto`: from Slurm's `SLURM_ARRAY_TASK_ID` (less `SLURM_ARRAY_TASK_MIN`) and
 * `SLURM_ARRAY_TASK_COUNT`, else from a Kubernetes Indexed Job's `JOB_COMPLETION_INDEX` and
 * `JOB_COMPLETIONS` (the manifest sets it to the job's `completions`: Kubernetes does not expose that).
 */
export function parseShard(text: string, env: Record<string, string | undefined>): Shard {
  const int = (value: string | undefined, name: string) => {
    if (value === undefined || !/^\d+$/.test(value.trim())) {
      throw new InputError(`--shard auto: ${name} is ${value === undefined ? "not set" : `"${value}", not a count`}`);
    }
    return Number(value);
  };
  let shard: Shard;
  if (text === "auto") {
    if (env.SLURM_ARRAY_TASK_ID !== undefined) {
      const min = env.SLURM_ARRAY_TASK_MIN === undefined ? 0 : int(env.SLURM_ARRAY_TASK_MIN, "SLURM_ARRAY_TASK_MIN");
      shard = {
        index: int(env.SLURM_ARRAY_TASK_ID, "SLURM_ARRAY_TASK_ID") - min,
        count: int(env.SLURM_ARRAY_TASK_COUNT, "SLURM_ARRAY_TASK_COUNT"),
      };
    } else if (env.JOB_COMPLETION_INDEX !== undefined) {
      shard = {
        index: int(env.JOB_COMPLETION_INDEX, "JOB_COMPLETION_INDEX"),
        count: int(env.JOB_COMPLETIONS, "JOB_COMPLETIONS"),
      };
    } else {
      throw new InputError(
        "--shard auto: neither SLURM_ARRAY_TASK_ID (a Slurm array task) nor JOB_COMPLETION_INDEX (a Kubernetes Indexed Job) is set",
      );
    }
  } else {
    const match = /^(\d+)\/(\d+)$/.exec(text);
    if (!match) throw new InputError(`--shard: "${text}" is neither I/N (e.g. 0/4) nor auto`);
    shard = { index: Number(match[1]), count: Number(match[2]) };
  }
  if (shard.count < 1 || shard.count > MAX_SHARDS || shard.index >= shard.count) {
    throw new InputError(`--shard: ${shardName(shard)} needs 0 <= I < N <= ${MAX_SHARDS}`);
  }
  return shard;
}

/**
 * The shard's batches of a set of `images` in batches of `batchSize`: the batches split into
 * `count` contiguous runs whose lengths differ by one at most (a shard may have none when there
 * are fewer batches than shards).
 */
export function shardBatches(shard: Shard, images: number, batchSize: number): BatchRange {
  const batches = Math.ceil(images / batchSize);
  const at = (i: number) => Math.floor((i * batches) / shard.count);
  return { first: at(shard.index), end: at(shard.index + 1) };
}

/** Images in a range of batches. */
export function rangeImages(range: BatchRange, images: number, batchSize: number): number {
  return Math.max(0, Math.min(images, range.end * batchSize) - range.first * batchSize);
}

const ShardRecordSchema = z.object({
  shard: z.object({ index: z.number().int().min(0), count: z.number().int().min(1).max(MAX_SHARDS) }),
  batches: z.object({ first: z.number().int().min(0), end: z.number().int().min(0) }),
  images: z.number().int().min(0),
  /** What a shard shares with the others and with the merge: model hash, data, batch-shaping settings. */
  fingerprint: z.record(z.string(), z.unknown()),
  /** The audit's options (batch size resolved), less the out folder: the merge runs the whole-set stages with them. */
  options: z.record(z.string(), z.unknown()),
  /** Seconds the shard's last run took, setup included, and its batch pass's seconds per stage (for the user). */
  seconds: z.number().min(0),
  timings: z.record(z.string(), z.number().min(0)),
});
/** What a finished shard records. */
export type ShardRecord = z.output<typeof ShardRecordSchema>;

/** The fingerprint of a shard's chunk folder: the audit's, and which shard it is. */
export const shardFingerprint = (fingerprint: Record<string, unknown>, shard: Shard): Record<string, unknown> => ({
  ...fingerprint,
  shard: shardName(shard),
});

/** Writes the finished shard's record (atomically: the merge sees it whole or not at all). */
export async function writeShardRecord(out: string, record: ShardRecord): Promise<void> {
  const path = join(out, shardFolder(record.shard), SHARD_RECORD);
  await writeAtomic(path, new TextEncoder().encode(JSON.stringify(record, null, 1) + "\n"));
}

/** Removes a shard's record while it runs again: until it finishes, the merge must see it as unfinished. */
export async function removeShardRecord(out: string, shard: Shard): Promise<void> {
  await Deno.remove(join(out, shardFolder(shard), SHARD_RECORD)).catch((e) => {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  });
}

/** The keys that may differ between shards: where each wrote and how it was started. */
const comparable = (record: ShardRecord) => {
  const { out: _o, force: _f, resume: _r, ...options } = record.options;
  return { count: record.shard.count, fingerprint: record.fingerprint, options };
};

/** The first key, depth first, where two JSON values differ, with both values (shortened). */
function firstDifference(a: unknown, b: unknown, path: string[] = []): string {
  if (a !== null && b !== null && typeof a === "object" && typeof b === "object") {
    const rec = (x: object) => x as Record<string, unknown>;
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
      if (JSON.stringify(rec(a)[key]) !== JSON.stringify(rec(b)[key])) {
        return firstDifference(rec(a)[key], rec(b)[key], [...path, key]);
      }
    }
  }
  const show = (x: unknown) => {
    const text = JSON.stringify(x) ?? "nothing";
    return text.length > 40 ? `${text.slice(0, 37)}...` : text;
  };
  return `${path.join(".") || "everything"} (${show(a)}, the others ${show(b)})`;
}

/** Every shard of an audit, checked to be finished and alike: what the merge runs from. */
export class ShardSet {
  private constructor(
    readonly out: string,
    readonly records: ShardRecord[],
  ) {}

  /** Shards in the set. */
  get count(): number {
    return this.records.length;
  }

  /** The shards' audit options (the same in every shard). */
  get options(): Record<string, unknown> {
    return this.records[0].options;
  }

  /**
   * Reads and checks every shard under `out`: one InputError line names a shard that is missing,
   * unfinished, or was run with another model, data, settings or seed than the others.
   */
  static async read(out: string): Promise<ShardSet> {
    const dir = join(out, SHARDS_DIR);
    const folders = (await pathExists(dir) ? await listFolder(dir) : []).filter((e) => /^\d+$/.test(e.name));
    if (folders.length === 0) {
      throw new InputError(`${out} holds no shards (${dir}/I, written by audit --shard I/N)`);
    }
    const records: ShardRecord[] = [];
    for (const folder of folders) {
      const path = join(dir, folder.name, SHARD_RECORD);
      if (!(await pathExists(path))) {
        throw new InputError(
          `shard ${folder.name} (${join(dir, folder.name)}) is not finished: run it again; it resumes from its chunks`,
        );
      }
      const record = validated(ShardRecordSchema, await readJson(path), path, "not a shard record");
      if (String(record.shard.index) !== folder.name) {
        throw new InputError(`${path}: records shard ${shardName(record.shard)}, not shard ${folder.name}`);
      }
      records.push(record);
    }
    // The odd one out is the shard that differs from the most common settings.
    const key = (r: ShardRecord) => JSON.stringify(comparable(r));
    const tally = new Map<string, number>();
    for (const r of records) tally.set(key(r), (tally.get(key(r)) ?? 0) + 1);
    const usual = [...tally.entries()].sort((a, b) => b[1] - a[1])[0][0];
    const reference = records.find((r) => key(r) === usual)!;
    for (const r of records) {
      if (key(r) === usual) continue;
      throw new InputError(
        `${describeShard(r.shard)} (${join(dir, String(r.shard.index))}) was run with other inputs than ` +
          `the rest: ${firstDifference(comparable(r), comparable(reference))}`,
      );
    }
    const count = reference.shard.count;
    const byIndex = new Map(records.map((r) => [r.shard.index, r]));
    for (let index = 0; index < count; index++) {
      if (!byIndex.has(index)) {
        throw new InputError(
          `${describeShard({ index, count })} is missing (no ${join(dir, String(index))}): ` +
            `run audit --shard ${index}/${count} with the same flags`,
        );
      }
    }
    return new ShardSet(out, [...byIndex.keys()].sort((a, b) => a - b).map((i) => byIndex.get(i)!));
  }

  /**
   * The shards' chunks as one run's, after checking that the merge's own fingerprint (the model
   * and data it opened now) is the shards' and that every shard's chunks are on disk.
   */
  async chunks(fingerprint: Record<string, unknown>): Promise<ChunkSource> {
    const usual = this.records[0].fingerprint;
    if (JSON.stringify(usual) !== JSON.stringify(fingerprint)) {
      throw new InputError(
        `the model or data opened now differ from the shards' in ${firstDifference(fingerprint, usual)}`,
      );
    }
    const stores: ChunkStore[] = [];
    for (const record of this.records) {
      const { shard, batches } = record;
      const store = await ChunkStore.open(this.out, shardFingerprint(fingerprint, shard), {
        resume: true,
        force: false,
        folder: shardFolder(shard),
        first: batches.first,
      });
      if (store.completed < batches.end - batches.first) {
        throw new InputError(
          `${describeShard(shard)} lacks the chunk of batch ${batches.first + store.completed} in ` +
            `${store.dir}: run that shard again`,
        );
      }
      stores.push(store);
    }
    const dir = join(this.out, PARTIAL_DIR);
    await Deno.mkdir(dir, { recursive: true });
    return new MergedChunks(dir, stores);
  }
}

/** Every shard's chunks, read as one run's; the merge's spilled feature rows go to `dir`. */
class MergedChunks implements ChunkSource {
  constructor(readonly dir: string, readonly stores: ChunkStore[]) {}

  #store(batch: number): ChunkStore | undefined {
    return this.stores.find((s) => s.has(batch));
  }

  has(batch: number): boolean {
    return this.#store(batch) !== undefined;
  }

  read(batch: number): Promise<Chunk> {
    return this.#store(batch)!.read(batch);
  }

  write(chunk: Chunk): Promise<void> {
    throw new Error(`batch ${chunk.batch} is in no shard`);
  }

  /** Removes the merge's spilled rows; the shards' folders stay (a merge can be run again). */
  async remove(): Promise<void> {
    await removeOwnFiles(this.dir, (name) => isSpillFile(name) || isAtomicTemp(name));
  }
}
