/**
 * deno task review [--report DIR] [--port N]
 *
 * Serves the human review of an audit report's mistakes and adversarial examples on 127.0.0.1
 * until Ctrl-C; each judgment is saved to DIR/judgments.jsonl and rectifies the report's figures.
 */
import { join } from "node:path";
import { z } from "zod";
import { JUDGMENTS_FILE, startReviewServer } from "../pipeline/review/mod.ts";
import { parseFlags } from "./flags.ts";
import { runCommand } from "./run_command.ts";

const command = {
  name: "review",
  summary: "Serves the review of the report in DIR (default ./audit-report) on 127.0.0.1, port N (default 8000; " +
    "0: any free port), until Ctrl-C.",
  flags: z.object({
    report: z.string().min(1).default("audit-report").meta({ value: "DIR" }),
    port: z.string().regex(/^\d+$/, "must be a port number").default("8000").transform(Number)
      .pipe(z.number().max(65535, "must be at most 65535")).meta({ value: "N" }),
    verbose: z.boolean().default(false),
  }),
};

async function main(args: string[]): Promise<void> {
  const flags = parseFlags(command, args);
  if (!flags) return;
  const server = await startReviewServer({ dir: flags.report, port: flags.port });
  if (server.tookOver) console.error(`review: ${server.tookOver}`);
  for (const m of server.malformed) {
    console.error(`${join(flags.report, JUDGMENTS_FILE)}:${m.line}: skipped: ${m.reason}`);
  }
  console.log(`review: ${server.url} (Ctrl-C to stop)`);
  const stop = () => void server.shutdown();
  Deno.addSignalListener("SIGINT", stop);
  await server.finished;
  Deno.removeSignalListener("SIGINT", stop);
}

if (import.meta.main) await runCommand("review", main);
