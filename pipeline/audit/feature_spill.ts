/**
 * Feature rows on disk, for a feature store larger than its memory budget: each write is one
 * segment file `features-NNNNNN.f32` (float32 rows, little-endian, no header) in the run's partial
 * folder, written atomically; where each row went (segment, position) is the caller's to keep.
 * Segments are numbered from 0 in each run, so a resumed run, which rebuilds its feature store
 * from the replayed chunks, writes over the earlier run's; the chunk store removes them all with
 * the chunks (chunks.ts).
 *
 * @example
 * ```ts
 * const spill = new FeatureSpill("audit-report/partial", 2);
 * const segment = await spill.write([Float32Array.of(1, 2), Float32Array.of(3, 4)]);
 * const rows = await spill.read([segment], [1]); // Float32Array [3, 4]
 * ```
 */
import { join } from "node:path";
import { writeAtomic } from "../io/files.ts";

/** Whether a file name is one of the spill's segments. */
export const isSpillFile = (name: string): boolean => /^features-\d{6}\.f32$/.test(name);

const segmentName = (segment: number) => `features-${String(segment).padStart(6, "0")}.f32`;

/** Segment files of feature rows `width` wide in one folder. */
export class FeatureSpill {
  #segments = 0;

  constructor(readonly dir: string, readonly width: number) {}

  /** Segments written so far. */
  get segments(): number {
    return this.#segments;
  }

  /** Writes the rows, in order, as the next segment; a row's position there is its index. Returns the segment. */
  async write(rows: readonly Float32Array[]): Promise<number> {
    const segment = this.#segments++;
    const bytes = rows.map((row) => new Uint8Array(row.buffer, row.byteOffset, row.byteLength));
    await writeAtomic(join(this.dir, segmentName(segment)), bytes);
    return segment;
  }

  /**
   * The rows at (segments[i], positions[i]), in that order. Each segment is read once, from its
   * first to its last wanted row (a class's rows lie together in a segment).
   */
  async read(segments: ArrayLike<number>, positions: ArrayLike<number>): Promise<Float32Array> {
    const { width } = this;
    const out = new Float32Array(segments.length * width);
    const bySegment = new Map<number, number[]>();
    for (let i = 0; i < segments.length; i++) {
      if (!bySegment.has(segments[i])) bySegment.set(segments[i], []);
      bySegment.get(segments[i])!.push(i);
    }
    for (const [segment, wanted] of bySegment) {
      let first = Infinity, last = -1;
      for (const i of wanted) [first, last] = [Math.min(first, positions[i]), Math.max(last, positions[i])];
      const span = await readSpan(join(this.dir, segmentName(segment)), first * width * 4, (last - first + 1) * width);
      for (const i of wanted) {
        out.set(span.subarray((positions[i] - first) * width, (positions[i] - first + 1) * width), i * width);
      }
    }
    return out;
  }
}

/** `floats` float32 values of a file from byte `offset`. */
async function readSpan(path: string, offset: number, floats: number): Promise<Float32Array> {
  const out = new Float32Array(floats);
  const bytes = new Uint8Array(out.buffer);
  using file = await Deno.open(path, { read: true });
  await file.seek(offset, Deno.SeekMode.Start);
  for (let at = 0; at < bytes.length;) {
    const read = await file.read(bytes.subarray(at));
    if (read === null) throw new Error(`${path}: ends before the feature rows it should hold`);
    at += read;
  }
  return out;
}
