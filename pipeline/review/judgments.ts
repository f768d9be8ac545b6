/**
 * The judgments people make on the review page, one JSON line each in `DIR/judgments.jsonl`. The
 * file is only ever appended to (and flushed to disk per line), so a crash loses at most the line
 * being written, and a reviewer who changes an answer adds a line: the log keeps both, the latest
 * of each (item, reviewer) counts. Reading it skips and reports malformed lines instead of failing.
 *
 * @example
 * ```ts
 * await appendJudgment("audit-report", {
 *   item: "mistake:17",
 *   kind: "mistake",
 *   index: 17,
 *   reviewer: "r1",
 *   judgment: "label is wrong",
 *   explanationShown: true,
 *   labelShown: true,
 *   at: new Date().toISOString(),
 * });
 * const { judgments, malformed } = await readJudgments("audit-report", new Set(["mistake:17"]));
 * ```
 */
import { join } from "node:path";
import { z } from "zod";
import { oneLine } from "../io/input_error.ts";
import { jsonErrorPlace } from "../io/json_text.ts";
import { JUDGMENTS } from "../schema/review.ts";

/** The judgments file's name inside the report folder. */
export const JUDGMENTS_FILE = "judgments.jsonl";

export const ItemKindSchema = z.enum(["mistake", "adversarial"]);

/** What people review: a mistake or an adversarial example. */
export type ItemKind = z.infer<typeof ItemKindSchema>;

/** A review item's id: its kind and its example's position in the data source's order. */
export const ItemIdSchema = z.string().regex(/^(mistake|adversarial):\d+$/, "must be mistake:N or adversarial:N");

/** A reviewer's id: the plan's (r1, r2, ...) or an external platform's worker id. */
export const ReviewerIdSchema = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, "must be 1-64 letters, digits, _ . -");

/** One line of judgments.jsonl. */
export const JudgmentRecordSchema = z.strictObject({
  item: ItemIdSchema,
  kind: ItemKindSchema,
  /** The example's position in the data source's order. */
  index: z.number().int().min(0),
  /** Who judged; lines written before reviewers had ids are one person's, "anonymous". */
  reviewer: ReviewerIdSchema.default("anonymous"),
  judgment: z.enum(JUDGMENTS),
  /** Whether the page showed the explanation (saliency, prototypes) with the image. */
  explanationShown: z.boolean(),
  /** Whether the page showed the label; lines written before it was a choice always did. */
  labelShown: z.boolean().default(true),
  at: z.iso.datetime(),
}).refine((j) => j.item === `${j.kind}:${j.index}`, { message: "item must be kind:index", path: ["item"] });

export type JudgmentRecord = z.output<typeof JudgmentRecordSchema>;

/** The key of a reviewer's answer on an item: the latest line with it counts. */
export function answerKey(item: string, reviewer: string): string {
  return `${item} ${reviewer}`;
}

/** A line of judgments.jsonl that was skipped, and why. */
export interface MalformedLine {
  /** 1-based. */
  line: number;
  reason: string;
}

/** What judgments.jsonl holds: the latest judgment per (item, reviewer), and every line read. */
export interface JudgmentLog {
  /** The latest valid judgment of each reviewer on each item, by answerKey(item, reviewer). */
  judgments: Map<string, JudgmentRecord>;
  /** Every valid line, in the file's order (changed answers included). */
  records: JudgmentRecord[];
  /** Lines read, malformed ones included. */
  lines: number;
  malformed: MalformedLine[];
}

/**
 * The id of the item of `kind` for the example at `index`.
 *
 * @example
 * ```ts
 * itemId("adversarial", 4); // "adversarial:4"
 * ```
 */
export function itemId(kind: ItemKind, index: number): string {
  return `${kind}:${index}`;
}

/**
 * Appends one judgment as a line to `dir/judgments.jsonl` and flushes it to disk before returning.
 * A last line left unterminated by a crash is closed first, so it cannot swallow this one.
 *
 * @example
 * ```ts
 * await appendJudgment("audit-report", { item: "adversarial:4", kind: "adversarial", index: 4, reviewer: "r2",
 *   judgment: "not acceptable", explanationShown: false, labelShown: true, at: new Date().toISOString() });
 * ```
 */
export async function appendJudgment(dir: string, judgment: JudgmentRecord): Promise<void> {
  await appendJudgments(dir, [judgment]);
}

/** Appends judgments as lines, in one write flushed to disk before returning (see appendJudgment). */
export async function appendJudgments(dir: string, judgments: readonly JudgmentRecord[]): Promise<void> {
  const line = judgments.map((j) => JSON.stringify(JudgmentRecordSchema.parse(j)) + "\n").join("");
  const file = await Deno.open(join(dir, JUDGMENTS_FILE), { read: true, append: true, create: true });
  try {
    const size = (await file.stat()).size;
    let text = line;
    if (size > 0) {
      const last = new Uint8Array(1);
      await file.seek(size - 1, Deno.SeekMode.Start);
      await file.read(last);
      if (last[0] !== 0x0a) text = "\n" + line;
    }
    const bytes = new TextEncoder().encode(text);
    let written = 0;
    while (written < bytes.length) written += await file.write(bytes.subarray(written));
    await file.sync();
  } finally {
    file.close();
  }
}

/** Why `text` is not a valid judgment of a known item, or the judgment. */
function parseLine(text: string, known: ReadonlySet<string>): JudgmentRecord | string {
  if (text.trim() === "") return "empty line";
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return `not JSON (${jsonErrorPlace(text)})`;
  }
  const parsed = JudgmentRecordSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return `${issue.path.join(".") || "line"}: ${issue.message}`;
  }
  if (!known.has(parsed.data.item)) return `unknown item ${parsed.data.item}`;
  return parsed.data;
}

/**
 * Reads `dir/judgments.jsonl` (none yet: no judgments). Lines that are not a valid judgment of one
 * of the `known` item ids are skipped and listed; of several judgments of an item by one reviewer,
 * the last wins.
 *
 * @example
 * ```ts
 * const log = await readJudgments("audit-report", new Set(["mistake:17", "adversarial:4"]));
 * for (const m of log.malformed) console.error(`judgments.jsonl:${m.line}: ${m.reason}`);
 * ```
 */
export async function readJudgments(dir: string, known: ReadonlySet<string>): Promise<JudgmentLog> {
  let text: string;
  try {
    text = await Deno.readTextFile(join(dir, JUDGMENTS_FILE));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return { judgments: new Map(), records: [], lines: 0, malformed: [] };
    throw e;
  }
  // The newline ends each line; text after the last one is a line cut short (or unterminated).
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  const judgments = new Map<string, JudgmentRecord>();
  const records: JudgmentRecord[] = [];
  const malformed: MalformedLine[] = [];
  lines.forEach((line, i) => {
    const parsed = parseLine(line, known);
    // The reason may quote the line's bytes; it is printed as one line.
    if (typeof parsed === "string") malformed.push({ line: i + 1, reason: oneLine(parsed) });
    else {
      records.push(parsed);
      judgments.set(answerKey(parsed.item, parsed.reviewer), parsed);
    }
  });
  return { judgments, records, lines: lines.length, malformed };
}
