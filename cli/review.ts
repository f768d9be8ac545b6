/**
 * deno task review [--report DIR] [--reviewers N | --invite NAMES] [--per-item K] [--label shown|hidden|both]
 *                  [--host ADDR] [--port N] [--export FILE | --import FILE]
 *
 * Serves the human study of an audit report's mistakes and adversarial examples until Ctrl-C,
 * printing one URL (with its secret token) per reviewer; each judgment is saved to
 * DIR/judgments.jsonl and the report's review figures are recomputed. With --export or --import
 * it writes or reads the judgments as CSV instead, and exits.
 */
import { join } from "node:path";
import { z } from "zod";
import { readInputText } from "../pipeline/io/files.ts";
import { InputError } from "../pipeline/io/input_error.ts";
import {
  appendJudgments,
  claimStudyFolder,
  JUDGMENTS_FILE,
  judgmentsCsv,
  LABEL_CHOICES,
  openStudy,
  parseJudgmentsCsv,
  rereadJudgments,
  startReviewServer,
  writeReviewedReport,
} from "../pipeline/review/mod.ts";
import { numberFlag, parseFlags } from "./flags.ts";
import { runCommand } from "./run_command.ts";

const MAX_REVIEWERS = 1000;

const command = {
  name: "review",
  summary: "Serves the review of the report in DIR (default ./audit-report) on ADDR (default 127.0.0.1), port N " +
    "(default 8000; 0: any free port), until Ctrl-C, with one URL per reviewer: N of them (--reviewers) or one per " +
    "comma-separated name (--invite); each item goes to K of them (default 3). The reviewers and the plan are made " +
    "at the first start. --export writes the judgments as CSV, --import appends a CSV's, and both exit.",
  flags: z.object({
    report: z.string().min(1).default("audit-report").meta({ value: "DIR" }),
    reviewers: numberFlag(z.number().int().min(1).max(MAX_REVIEWERS).optional()),
    invite: z.string().min(1).optional().meta({ value: "NAMES" }),
    "per-item": numberFlag(z.number().int().min(1).max(MAX_REVIEWERS).default(3)).meta({ value: "K" }),
    label: z.enum(LABEL_CHOICES).default("shown"),
    host: z.string().min(1).default("127.0.0.1").meta({ value: "ADDR" }),
    port: z.string().regex(/^\d+$/, "must be a port number").default("8000").transform(Number)
      .pipe(z.number().max(65535, "must be at most 65535")).meta({ value: "N" }),
    export: z.string().min(1).optional().meta({ value: "FILE" }),
    import: z.string().min(1).optional().meta({ value: "FILE" }),
    verbose: z.boolean().default(false),
  }),
};

/** The reviewers' names the flags ask for; null when they name none (the study's own are kept). */
function reviewerNames(reviewers: number | undefined, invite: string | undefined): string[] | null {
  if (reviewers !== undefined && invite !== undefined) throw new InputError("--reviewers and --invite: give one");
  if (reviewers !== undefined) return Array.from({ length: reviewers }, (_, i) => `r${i + 1}`);
  if (invite === undefined) return null;
  const names = invite.split(",").map((name) => name.trim());
  if (names.some((name) => name === "" || name.length > 100)) {
    throw new InputError("--invite: names are comma-separated, 1-100 characters each");
  }
  if (new Set(names).size !== names.length) throw new InputError("--invite: a name is given twice");
  if (names.length > MAX_REVIEWERS) throw new InputError(`--invite: at most ${MAX_REVIEWERS} names`);
  return names;
}

async function main(args: string[]): Promise<void> {
  const flags = parseFlags(command, args);
  if (!flags) return;
  const study = { reviewers: reviewerNames(flags.reviewers, flags.invite), perItem: flags.perItem, label: flags.label };
  if (flags.export !== undefined && flags.import !== undefined) throw new InputError("--export and --import: give one");
  if (flags.export !== undefined || flags.import !== undefined) {
    using _folder = await claimStudyFolder(flags.report, "review");
    const opened = await openStudy(flags.report, study);
    if (flags.export !== undefined) {
      await Deno.writeTextFile(flags.export, judgmentsCsv(opened.log.records));
      console.log(`review: ${opened.log.records.length} judgments written to ${flags.export}`);
      return;
    }
    const rows = parseJudgmentsCsv(await readInputText(flags.import!), flags.import!, new Set(opened.items.keys()));
    await appendJudgments(flags.report, rows);
    await rereadJudgments(opened);
    await writeReviewedReport(opened);
    console.log(
      `review: ${rows.length} judgments imported from ${flags.import} into ${join(flags.report, JUDGMENTS_FILE)}`,
    );
    return;
  }
  const server = await startReviewServer({ dir: flags.report, host: flags.host, port: flags.port, ...study });
  if (server.tookOver) console.error(`review: ${server.tookOver}`);
  for (const m of server.malformed) {
    console.error(`${join(flags.report, JUDGMENTS_FILE)}:${m.line}: skipped: ${m.reason}`);
  }
  console.log(`review: ${server.url} (Ctrl-C to stop); one URL per reviewer, keep each secret:`);
  for (const r of server.reviewers) console.log(`review: ${r.id} (${r.name}): ${r.url}`);
  const stop = () => void server.shutdown();
  Deno.addSignalListener("SIGINT", stop);
  await server.finished;
  Deno.removeSignalListener("SIGINT", stop);
}

if (import.meta.main) await runCommand("review", main);
