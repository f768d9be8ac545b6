/**
 * The judgments as CSV, one row per judgment line: `item,reviewer,arm,answer,time`, where arm is
 * what the page showed ("explanation shown; label hidden", ...), answer one of the three judgments
 * and time an ISO 8601 instant. A study run on an external crowd platform comes back in the same
 * form: importing its CSV appends its rows to judgments.jsonl (in the file's order, so a changed
 * answer's later row counts), which then gives the same figures as the same judgments made here.
 *
 * @example
 * ```ts
 * import type { JudgmentLog } from "./judgments.ts";
 * declare const log: JudgmentLog;
 * const text = judgmentsCsv(log.records);
 * const back = parseJudgmentsCsv(text, "judgments.csv", new Set(log.records.map((j) => j.item)));
 * ```
 */
import { z } from "zod";
import { InputError, oneLine } from "../io/input_error.ts";
import { JUDGMENTS } from "../schema/review.ts";
import {
  ItemIdSchema,
  type ItemKind,
  type JudgmentRecord,
  JudgmentRecordSchema,
  ReviewerIdSchema,
} from "./judgments.ts";
import { armName } from "./summary.ts";

/** The header row. */
export const CSV_COLUMNS = ["item", "reviewer", "arm", "answer", "time"] as const;

const ARMS = new Map(
  [true, false].flatMap((explanationShown) =>
    [true, false].map((labelShown) => [armName({ explanationShown, labelShown }), { explanationShown, labelShown }])
  ),
);

const RowSchema = z.strictObject({
  item: ItemIdSchema,
  reviewer: ReviewerIdSchema,
  arm: z.string().refine((arm) => ARMS.has(arm), { message: `must be one of ${[...ARMS.keys()].join(" | ")}` }),
  answer: z.enum(JUDGMENTS),
  time: z.iso.datetime({ offset: true }),
});

/** A field as CSV writes it: quoted when it holds a comma, a quote or a line break. */
function field(text: string): string {
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/**
 * The judgments as CSV text (header first, CRLF line ends as RFC 4180 has them).
 *
 * @example
 * ```ts
 * judgmentsCsv([]); // "item,reviewer,arm,answer,time\r\n"
 * ```
 */
export function judgmentsCsv(records: readonly JudgmentRecord[]): string {
  const rows = records.map((j) => [j.item, j.reviewer, armName(j), j.judgment, j.at]);
  return [CSV_COLUMNS, ...rows].map((row) => row.map(field).join(",") + "\r\n").join("");
}

/** The rows of CSV text (RFC 4180: quoted fields may hold commas, quotes doubled, line breaks). */
function csvRows(text: string, source: string): { line: number; fields: string[] }[] {
  const rows: { line: number; fields: string[] }[] = [];
  let fields: string[] = [], value = "", quoted = false, line = 1, rowLine = 1, i = 0;
  const endRow = () => {
    fields.push(value);
    if (fields.length > 1 || fields[0] !== "") rows.push({ line: rowLine, fields });
    fields = [];
    value = "";
    rowLine = line;
  };
  for (; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') value += '"', i++;
      else if (c === '"') quoted = false;
      else {
        if (c === "\n") line++;
        value += c;
      }
    } else if (c === '"' && value === "") quoted = true;
    else if (c === ",") fields.push(value), value = "";
    else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      line++;
      endRow();
    } else value += c;
  }
  if (quoted) throw new InputError(`${source}:${rowLine}: a quoted field is not closed`);
  if (value !== "" || fields.length > 0) endRow();
  return rows;
}

/**
 * The judgments of CSV text with the header `item,reviewer,arm,answer,time` (in that order; a
 * UTF-8 byte-order mark is allowed). Every row must be a judgment of one of the `known` items: the
 * first that is not is an InputError naming `source`, its line and the problem.
 *
 * @example
 * ```ts
 * const rows = parseJudgmentsCsv(
 *   "item,reviewer,arm,answer,time\nmistake:3,w17,explanation shown; label shown,acceptable,2025-02-03T10:00:00Z\n",
 *   "crowd.csv",
 *   new Set(["mistake:3"]),
 * );
 * ```
 */
export function parseJudgmentsCsv(text: string, source: string, known: ReadonlySet<string>): JudgmentRecord[] {
  const rows = csvRows(text.replace(/^\uFEFF/, ""), source);
  const header = rows.shift();
  if (header === undefined || header.fields.join(",") !== CSV_COLUMNS.join(",")) {
    throw new InputError(`${source}:1: the header must be ${CSV_COLUMNS.join(",")}`);
  }
  return rows.map(({ line, fields }) => {
    const where = `${source}:${line}`;
    if (fields.length !== CSV_COLUMNS.length) {
      throw new InputError(`${where}: ${fields.length} fields, not ${CSV_COLUMNS.length}`);
    }
    const parsed = RowSchema.safeParse(Object.fromEntries(CSV_COLUMNS.map((c, k) => [c, fields[k]])));
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new InputError(oneLine(`${where}: ${issue.path.join(".")}: ${issue.message}`));
    }
    const row = parsed.data;
    if (!known.has(row.item)) throw new InputError(`${where}: ${row.item} is not an item of this study`);
    const [kind, index] = row.item.split(":");
    return JudgmentRecordSchema.parse({
      item: row.item,
      kind: kind as ItemKind,
      index: Number(index),
      reviewer: row.reviewer,
      judgment: row.answer,
      ...ARMS.get(row.arm)!,
      at: new Date(row.time).toISOString(),
    });
  });
}
