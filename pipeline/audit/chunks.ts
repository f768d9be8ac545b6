/**
 * Resume support: every finished batch's stage results are one chunk file under
 * `OUT/partial/`, written atomically (temp file, fsync, rename), so a crash or Ctrl-C loses at most
 * the batch in flight. `run.json` beside them holds the fingerprint of the settings that shape the
 * results; `--resume` continues only a run with the same fingerprint, replaying its chunks into the
 * accumulators and computing the batches after them. A shard's chunks (shards.ts) lie in its own
 * folder and start at its first batch; chunk files are named by the global batch index.
 *
 * @example
 * ```ts
 * declare function replay(chunk: Chunk): void;
 * declare const next: Omit<Chunk, "batch">;
 * const store = await ChunkStore.open("audit-report", { seed: 1, batchSize: 64 }, { resume: true, force: false });
 * for (let b = 0; b < store.completed; b++) replay(await store.read(b));
 * await store.write({ ...next, batch: store.completed });
 * ```
 */
import { Buffer } from "node:buffer";
import { join } from "node:path";
import { z } from "zod";
import { isAtomicTemp, pathExists, writeAtomic } from "../io/files.ts";
import { InputError } from "../io/input_error.ts";
import { removeOwnFiles } from "../io/out_folder.ts";
import type { ImagePrediction } from "./evaluate.ts";
import { isSpillFile } from "./feature_spill.ts";
import { type BatchRobustness, CURVE_NAMES } from "./robustness.ts";

/** The folder, inside the report folder, that holds a run's finished batches until the report is written. */
export const PARTIAL_DIR = "partial";
const RUN_FILE = "run.json";

const int = z.number().int();
/** A sweep's counts are stored as u32. */
const count32 = int.min(0).max(2 ** 32 - 1);
const PredictionSchema = z.object({
  index: int.min(0),
  label: int.min(0),
  top: z.array(int.min(0)),
  probs: z.array(z.number()),
});
const ChunkSchema = z.object({
  batch: int.min(0),
  predictions: z.array(PredictionSchema),
  robustness: z.object({
    indices: z.array(int),
    labels: z.array(int),
    clean: z.array(int),
    zeroGradients: int.min(0),
    sweeps: z.partialRecord(z.enum(CURVE_NAMES), z.array(z.array(count32))),
    minEpsilons: z.array(z.number().nullable()),
    // Robustness: DeepFool's estimates (absent when not run, and in older chunks).
    deepFool: z.array(z.number().nullable()).optional(),
    // Robustness: FGSM's own sweep and the trust probe's flags (absent in chunks written before them).
    fgsmRaw: z.array(z.array(count32)).optional(),
    flags: z.object({
      nearZeroGradient: z.array(int),
      unstableLogits: z.array(int),
      probabilityOutputs: z.array(int),
    }).optional(),
  }).nullable(),
  /** Float32 features of the batch, little-endian, base64 (whole floats only). */
  features: z.string().regex(/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/)
    .refine((b) => ((b.length / 4) * 3 - (b.match(/=*$/)?.[0].length ?? 0)) % 4 === 0).nullable(),
});

/** What one batch left behind. */
export interface Chunk {
  batch: number;
  predictions: ImagePrediction[];
  robustness: BatchRobustness | null;
  features: Float32Array | null;
}

const chunkName = (batch: number) => `batch-${String(batch).padStart(6, "0")}.json`;

/** The files of `partial/` this tool writes: chunks, run.json, spilled features and temporary files. Others stay. */
const isOwnFile = (name: string) =>
  /^batch-\d{6}\.json$/.test(name) || name === RUN_FILE || isSpillFile(name) || isAtomicTemp(name);

/** The refusal of --resume when `outDir` holds no partial audit. */
export const nothingToResume = (outDir: string) =>
  new InputError(`--resume: ${outDir} holds no partial audit to resume`);

/** Where a chunk store lies and which batches it holds. */
export interface ChunkStoreOptions {
  /**
   * true: continue the earlier run (same fingerprint required); false: start anew; "auto"
   * (a shard, rerun by its scheduler with the same command): continue a run with the same
   * fingerprint, else start anew.
   */
  resume: boolean | "auto";
  force: boolean;
  /** The chunk folder, relative to the report folder (default: PARTIAL_DIR). */
  folder?: string;
  /** The run's first batch (default 0): a shard's batches start where the shard does. */
  first?: number;
}

/** The batches a run replays or writes (chunks.ts's ChunkStore, or a merge's view of every shard's). */
export interface ChunkSource {
  /** The folder for the run's spilled feature rows. */
  readonly dir: string;
  /** Whether batch `batch` is on disk. */
  has(batch: number): boolean;
  read(batch: number): Promise<Chunk>;
  write(chunk: Chunk): Promise<void>;
  /** Removes what the run wrote, once its report is written. */
  remove(): Promise<void>;
}

/** The chunks of one run in a report folder. */
export class ChunkStore implements ChunkSource {
  private constructor(
    readonly dir: string,
    /** The run's first batch. */
    readonly first: number,
    /** Batches first .. first + completed - 1 are on disk. */
    public completed: number,
  ) {}

  /**
   * Opens the run's chunk folder. With `resume`, the earlier run must have the same fingerprint;
   * its consecutive chunks from the first batch count. Without it, an earlier partial run is
   * discarded only when `force` says so, and only the files this tool wrote there.
   */
  static async open(outDir: string, fingerprint: unknown, options: ChunkStoreOptions): Promise<ChunkStore> {
    const dir = join(outDir, options.folder ?? PARTIAL_DIR);
    const first = options.first ?? 0;
    const expected = JSON.stringify(fingerprint);
    const previous = await readText(join(dir, RUN_FILE));
    const resume = options.resume === "auto" ? previous?.trim() === expected : options.resume;
    if (resume) {
      if (previous === null) throw nothingToResume(outDir);
      if (previous.trim() !== expected) {
        throw new InputError(
          `--resume: the partial audit in ${outDir} was run with other settings (model, data or flags); ` +
            `run again without --resume to start over`,
        );
      }
      let completed = 0;
      while (await pathExists(join(dir, chunkName(first + completed)))) completed++;
      return new ChunkStore(dir, first, completed);
    }
    if (previous !== null && !options.force) {
      throw new InputError(`${dir} holds an unfinished audit: pass --resume to continue it, or --force to start over`);
    }
    try {
      await removeOwnFiles(dir, isOwnFile);
      await Deno.mkdir(dir, { recursive: true });
      await writeAtomic(join(dir, RUN_FILE), new TextEncoder().encode(expected + "\n"));
    } catch (e) {
      throw new InputError(`--out ${outDir}: cannot write there (${e instanceof Error ? e.message : e})`);
    }
    return new ChunkStore(dir, first, 0);
  }

  has(batch: number): boolean {
    return batch >= this.first && batch < this.first + this.completed;
  }

  async read(batch: number): Promise<Chunk> {
    const path = join(this.dir, chunkName(batch));
    const redo = "delete that file to compute its batch again, or pass --force instead of --resume to start over";
    let json: unknown = null;
    try {
      json = JSON.parse((await readText(path)) ?? "null");
    } catch {
      throw new InputError(`--resume: ${path} is cut short or corrupt (not valid JSON): ${redo}`);
    }
    const parsed = ChunkSchema.safeParse(json);
    if (!parsed.success) throw new InputError(`--resume: ${path} is not a chunk of this audit: ${redo}`);
    const { robustness, features } = parsed.data;
    return {
      batch,
      predictions: parsed.data.predictions,
      robustness: robustness && {
        ...robustness,
        sweeps: Object.fromEntries(
          Object.entries(robustness.sweeps).map(([kind, sweep]) => [kind, sweep!.map((p) => Uint32Array.from(p))]),
        ),
        fgsmRaw: robustness.fgsmRaw?.map((p) => Uint32Array.from(p)),
      },
      features: features === null ? null : decodeFloats(features),
    };
  }

  /** Writes the next batch's chunk (atomically) and counts it. */
  async write(chunk: Chunk): Promise<void> {
    if (chunk.batch !== this.first + this.completed) throw new Error(`chunk ${chunk.batch} written out of order`);
    const { robustness } = chunk;
    const json = {
      batch: chunk.batch,
      predictions: chunk.predictions,
      robustness: robustness && {
        ...robustness,
        sweeps: Object.fromEntries(
          Object.entries(robustness.sweeps).map(([kind, sweep]) => [kind, sweep!.map((p) => Array.from(p))]),
        ),
        fgsmRaw: robustness.fgsmRaw?.map((p) => Array.from(p)),
      },
      features: chunk.features &&
        Buffer.from(chunk.features.buffer, chunk.features.byteOffset, chunk.features.byteLength)
          .toString("base64"),
    };
    await writeAtomic(join(this.dir, chunkName(chunk.batch)), new TextEncoder().encode(JSON.stringify(json)));
    this.completed++;
  }

  /**
   * Removes the chunks and the spilled features once the report that summarises them is written
   * (and the folder, unless others' files are there).
   */
  async remove(): Promise<void> {
    await removeOwnFiles(this.dir, isOwnFile);
  }
}

function decodeFloats(base64: string): Float32Array {
  const bytes = Buffer.from(base64, "base64");
  const out = new Float32Array(bytes.length / 4);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}

async function readText(path: string): Promise<string | null> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) return null;
    throw e;
  }
}
