/**
 * The report on disk: `DIR/report.json`, validated against its schema on the way out and on the
 * way in, written atomically and never over an existing report unless forced.
 *
 * @example
 * ```ts
 * import type { AuditReport } from "../schema/report.ts";
 * declare const report: AuditReport; // what the audit assembled
 * await assertReportWritable("audit-report", false); // before spending minutes on the audit
 * await writeReport("audit-report", report, { force: false });
 * const again = await readReport("audit-report");
 * ```
 */
import { join } from "node:path";
import { readJson, writeAtomic } from "../io/files.ts";
import { InputError } from "../io/input_error.ts";
import { validated } from "../io/validated.ts";
import { type AuditReport, AuditReportSchema } from "../schema/report.ts";

/** The report's file name inside the output folder. */
export const REPORT_FILE = "report.json";

/**
 * A pretty-printed array of numbers: "[", a line per number, "]". A JSON string cannot hold a raw
 * line break, so this never matches inside one.
 */
const NUMBER_ARRAY = /\[\n\s*-?\d[\d.eE+-]*(?:,\n\s*-?\d[\d.eE+-]*)*\n\s*\]/g;

/**
 * The report as text: indented for people, but each array of numbers on one line (a confusion
 * row, an image's top-5), which keeps a 1,000-class report a third of the size.
 */
function reportJson(report: AuditReport): string {
  return JSON.stringify(report, null, 1).replace(NUMBER_ARRAY, (array) => array.replace(/\s+/g, "")) + "\n";
}

/** Throws an InputError when `dir` already holds a report and `force` is not set. */
export async function assertReportWritable(dir: string, force: boolean): Promise<void> {
  const path = join(dir, REPORT_FILE);
  if (force) return;
  try {
    await Deno.stat(path);
  } catch (e) {
    // Not there, or `dir` is not a folder (the write reports that, naming --out).
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) return;
    throw e;
  }
  throw new InputError(`${path} exists: pass --force to overwrite it`);
}

/**
 * Validates the report against the schema (a failure is a bug, not bad input) and writes it
 * atomically to `dir/report.json`, creating `dir`. Returns the path written.
 */
export async function writeReport(dir: string, report: AuditReport, options: { force: boolean }): Promise<string> {
  const parsed = AuditReportSchema.safeParse(report);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`report does not match its schema at ${issue.path.join(".")}: ${issue.message}`);
  }
  await assertReportWritable(dir, options.force);
  await Deno.mkdir(dir, { recursive: true });
  const path = join(dir, REPORT_FILE);
  await writeAtomic(path, new TextEncoder().encode(reportJson(parsed.data)));
  return path;
}

/** Reads and validates `dir/report.json`; a missing file, bad JSON or a schema mismatch is an InputError. */
export async function readReport(dir: string): Promise<AuditReport> {
  const path = join(dir, REPORT_FILE);
  return validated(AuditReportSchema, await readJson(path), path, "not an audit report");
}
