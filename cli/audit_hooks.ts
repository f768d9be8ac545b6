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
import { z } from "zod";
import {
  type AuditHooks,
  type AuditOutcome,
  type AuditStage,
  formatSummary,
  type StageProgress,
} from "../pipeline/audit/mod.ts";
import { startProgress } from "./progress.ts";

/** How a command that writes a report prints: the report as JSON, no progress bars, stack traces. */
export const outputFlags = {
  json: z.boolean().default(false),
  quiet: z.boolean().default(false),
  verbose: z.boolean().default(false),
};

/** Prints a finished audit's summary table and files (or its report as JSON); a stopped one exits 130 with `stopped`. */
export function printOutcome(outcome: AuditOutcome, json: boolean, stopped: string): void {
  if (outcome.stopped) {
    console.error(stopped);
    Deno.exit(130);
  }
  const { report, paths } = outcome;
  console.log(
    json ? JSON.stringify(report) : `${formatSummary(report)}\n\nreport: ${paths.report}\n        ${paths.html}`,
  );
}

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
