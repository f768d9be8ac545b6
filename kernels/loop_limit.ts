/**
 * llvmpipe's loop limit, and how a kernel whose loop length comes from the data stays under it.
 *
 * Mesa's llvmpipe gives each shader one counter of LP_MAX_TGSI_LOOP_ITERATIONS = 65,535, set at the
 * start of every run of the shader (one SIMD vector of invocations: 8 on a 256-bit CPU) and taken
 * down by one at every loop's back edge, whichever loop it is: nested loops count every inner
 * iteration, consecutive loops add up, a loop costs one more than its trip count (the pass that
 * leaves it), and a loop in a branch no invocation of the vector takes still costs one. A loop
 * whose back edge finds the counter at 0 ends there, silently, and so does every later one after
 * one pass; the vector runs a loop as long as its longest invocation, so one long invocation cuts
 * its neighbours short too. Measured on llvmpipe (LLVM 15, Mesa 22.3.6) with a probe shader: one
 * loop of 70,000 trips stops after 65,535; loops of 40,000 then 40,000 run 40,000 then 25,534.
 *
 * Kernels therefore keep a data-dependent loop below LOOP_CHUNK trips per dispatch: a workgroup
 * of WG invocations that each take every WG-th element divides the trips by WG, and a loop that
 * can still be longer is split by the host into dispatches over `loopChunks`, each adding its part
 * of the sum to what the earlier ones wrote.
 *
 * @example
 * ```ts
 * loopChunks(70_000); // [{ start: 0, end: 32768 }, { start: 32768, end: 65536 }, { start: 65536, end: 70000 }]
 * ```
 */

/** Trips a data-dependent loop may take in one dispatch: half the limit, leaving room for a kernel's fixed loops. */
export const LOOP_CHUNK = 32768;

/** One dispatch's share of a loop: trips `start` (inclusive) to `end` (exclusive). */
export interface LoopChunk {
  start: number;
  end: number;
}

/** [0, total) in pieces of at most `chunk` trips, in order (one empty piece when total is 0). */
export function loopChunks(total: number, chunk = LOOP_CHUNK): LoopChunk[] {
  if (!Number.isInteger(total) || total < 0) throw new Error(`loopChunks: ${total} is not a trip count`);
  if (!Number.isInteger(chunk) || chunk < 1) throw new Error(`loopChunks: chunk ${chunk} must be a positive integer`);
  const chunks: LoopChunk[] = [];
  for (let start = 0; start < total || chunks.length === 0; start += chunk) {
    chunks.push({ start, end: Math.min(total, start + chunk) });
  }
  return chunks;
}
