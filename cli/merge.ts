/**
 * deno task merge --out DIR [--force] [--json] [--quiet]
 *
 * Merges a sharded audit (pipeline/audit/merge.ts): checks that every shard in OUT/shards is
 * finished and was run with the same model, data, settings and seed (else one line naming the
 * shard, exit 2), then runs the whole-set stages and writes OUT/report.json and OUT/index.html.
 */
import { z } from "zod";
import { formatSummary, mergeShards } from "../pipeline/audit/mod.ts";
import { withAuditHooks } from "./audit_hooks.ts";
import { parseFlags } from "./flags.ts";
import { runCommand } from "./run_command.ts";

const command = {
  name: "merge",
  summary: "Merges the shards of an audit (audit --shard I/N --out DIR) into DIR/report.json and DIR/index.html.",
  flags: z.object({
    out: z.string().min(1).meta({ value: "DIR" }),
    force: z.boolean().default(false),
    json: z.boolean().default(false),
    quiet: z.boolean().default(false),
    verbose: z.boolean().default(false),
  }),
};

async function main(args: string[]): Promise<void> {
  const flags = parseFlags(command, args);
  if (!flags) return;
  const quiet = flags.quiet || flags.json;
  const outcome = await withAuditHooks("merge", quiet, (hooks) => mergeShards(flags, hooks));
  if (outcome.stopped) {
    console.error("merge: stopped; run it again to merge");
    Deno.exit(130);
  }
  const { report, paths } = outcome;
  console.log(
    flags.json ? JSON.stringify(report) : `${formatSummary(report)}\n\nreport: ${paths.report}\n        ${paths.html}`,
  );
}

if (import.meta.main) await runCommand("merge", main);
