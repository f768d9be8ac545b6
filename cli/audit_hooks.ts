/**
 * The terminal side of a running audit, shared by `audit` and `merge`: a progress bar per stage,
 * notices on stderr, and Ctrl-C: during the batch pass it stops after the batch in flight; a
 * second one, or one at any other time, quits at once (Deno.exit, so the out folder's lock is
 * released on the way).
 *
 * @example
 * ```ts
 * import { audit } from "../pipeline/audit/mod.ts";
 * const outcome = await withAuditHooks("audit", false, (hooks) => audit({ limit: 100 }, hooks));
 * ```
 */
import type { AuditHooks, AuditStage, StageProgress } from "../pipeline/audit/mod.ts";
import { startProgress } from "./progress.ts";

/** Runs `work` with hooks that draw its progress (unless `quiet`) and stop it on Ctrl-C. */
export async function withAuditHooks<T>(
  name: string,
  quiet: boolean,
  work: (hooks: AuditHooks) => Promise<T>,
): Promise<T> {
  const stop = new AbortController();
  let inBatches = false;
  const onInterrupt = () => {
    if (!inBatches) Deno.exit(130);
    if (!quiet) console.error(`\n${name}: stopping after the batch in flight (Ctrl-C again to quit at once)`);
    if (stop.signal.aborted) Deno.exit(130);
    stop.abort();
  };
  Deno.addSignalListener("SIGINT", onInterrupt);
  try {
    return await work({
      signal: stop.signal,
      notice: (line) => console.error(`${name}: ${line}`),
      stage(stage: AuditStage, total: number): StageProgress {
        const batches = stage === "batches";
        const bar = startProgress(batches ? name : stage, total, { quiet, fields: batches ? ["stage"] : [] });
        if (batches) inBatches = true;
        return {
          update: (done, step) => bar.update(done, step === undefined ? {} : { stage: step }),
          stop() {
            bar.stop();
            if (batches) inBatches = false;
          },
        };
      },
    });
  } finally {
    Deno.removeSignalListener("SIGINT", onInterrupt);
  }
}
