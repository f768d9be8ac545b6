/**
 * The merge of a sharded audit: reads every shard's record under OUT/shards (shards.ts), refuses
 * a set with a shard missing, unfinished or run with other inputs, then runs the audit with the
 * shards' options over their chunks: the batch pass replays every shard's batches in the data's
 * order, and the whole-set stages (taxonomy, shown mistakes and adversarial examples with their
 * explanations, the sanity check, the bias stage) run as in a single-machine audit, which writes
 * OUT/report.json and OUT/index.html. The shards' folders stay.
 *
 * @example
 * ```ts
 * const outcome = await mergeShards({ out: "audit-report" });
 * if (!outcome.stopped) console.log(outcome.paths.report);
 * ```
 */
import { join } from "node:path";
import { validated } from "../io/validated.ts";
import { audit, type AuditHooks, AuditOptionsSchema, type AuditOutcome } from "./audit.ts";
import { SHARD_RECORD, shardFolder, ShardSet } from "./shards.ts";

/** Merges the shards in `out` into its report; `force` overwrites a report already there. */
export async function mergeShards(
  input: { out: string; force?: boolean },
  hooks: AuditHooks = {},
): Promise<AuditOutcome> {
  const set = await ShardSet.read(input.out);
  const recordPath = join(input.out, shardFolder({ index: 0, count: set.count }), SHARD_RECORD);
  const options = validated(AuditOptionsSchema, set.options, recordPath, "invalid audit options");
  return await audit({ ...options, out: input.out, force: input.force ?? false, resume: false }, hooks, set);
}
