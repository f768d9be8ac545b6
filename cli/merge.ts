/**
 * deno task merge --out DIR [--force] [--json] [--quiet]
 *
 * Merges a sharded audit (pipeline/audit/merge.ts): checks that every shard in OUT/shards is
 * finished and was run with the same model, data, settings and seed (else one line naming the
 * shard, exit 2), then runs the whole-set stages and writes OUT/report.json and OUT/index.html.
 */
import { z } from "zod";
import { mergeShards } from "../pipeline/audit/mod.ts";
import { outputFlags, printOutcome, withAuditHooks } from "./audit_hooks.ts";
import { parseFlags } from "./flags.ts";
import { runCommand } from "./run_command.ts";

const command = {
  name: "merge",
  summary: "Merges the shards of an audit (audit --shard I/N --out DIR) into DIR/report.json and DIR/index.html.",
  flags: z.object({
    out: z.string().min(1).meta({ value: "DIR" }),
    force: z.boolean().default(false),
    ...outputFlags,
  }),
};

async function main(args: string[]): Promise<void> {
  const flags = parseFlags(command, args);
  if (!flags) return;
  const quiet = flags.quiet || flags.json;
  const outcome = await withAuditHooks("merge", quiet, (hooks) => mergeShards(flags, hooks));
  printOutcome(outcome, flags.json, "merge: stopped; run it again to merge");
}

if (import.meta.main) await runCommand("merge", main);
