/**
 * Runs the cases: for each, our runner and its peer's are started, warmed up once (JIT
 * compilation happens there), then run alternately `runs` times so both see the same machine
 * load, and the best of each kept. A peer that cannot start or run is recorded with its error.
 */
import type { BenchCase, Runner, Sample } from "./case.ts";

export interface Timing {
  /** Best `ms` and best `wallMs` over the runs. */
  ms: number;
  wallMs: number;
  /** Every run's `ms`, in order. */
  samples: number[];
}

export interface Measured {
  case: BenchCase;
  ours: Timing | { error: string };
  peer?: { name: string } & (Timing | { error: string });
}

function best(samples: Sample[]): Timing {
  return {
    ms: Math.min(...samples.map((s) => s.ms)),
    wallMs: Math.min(...samples.map((s) => s.wallMs)),
    samples: samples.map((s) => s.ms),
  };
}

/** An error's first line, at most 200 characters (a GPU error lists every kernel recorded). */
function message(e: unknown): string {
  const line = (e instanceof Error ? e.message : String(e)).split("\n")[0];
  return line.length > 200 ? `${line.slice(0, 200)}...` : line;
}

async function start(make: () => Promise<Runner>): Promise<Runner | { error: string }> {
  try {
    const runner = await make();
    await runner.run(); // warm-up
    return runner;
  } catch (e) {
    return { error: message(e) };
  }
}

/** Measures one case, ours and peer interleaved. */
export async function measure(c: BenchCase, runs: number): Promise<Measured> {
  const ours = await start(c.start);
  const peer = c.peer ? await start(c.peer.start) : null;
  const samples: Sample[][] = [[], []];
  const failed: (string | null)[] = [null, null];
  for (let r = 0; r < runs; r++) {
    for (const [i, runner] of [ours, peer].entries()) {
      if (!runner || "error" in runner || failed[i]) continue;
      try {
        samples[i].push(await runner.run());
      } catch (e) {
        failed[i] = message(e);
      }
    }
  }
  for (const runner of [ours, peer]) if (runner && !("error" in runner)) runner[Symbol.dispose]();
  const result = (runner: Runner | { error: string }, i: number) =>
    "error" in runner ? runner : failed[i] ? { error: failed[i]! } : best(samples[i]);
  return {
    case: c,
    ours: result(ours, 0),
    peer: peer && c.peer ? { name: c.peer.name, ...result(peer, 1) } : undefined,
  };
}
