/**
 * The study's reviewers and their secret tokens, kept in `DIR/review-reviewers.json` (readable by
 * its owner only), never in report.json or the plan. A token is 32 random bytes (hex), drawn from
 * the system's cryptographic generator; a request names its reviewer by its token alone, compared
 * in constant time.
 *
 * @example
 * ```ts
 * const reviewers = newReviewers(["alice", "bob"]);
 * const who = reviewerOfToken(reviewers, reviewers[0].token); // alice's entry
 * ```
 */
import { timingSafeEqual } from "node:crypto";
import { join } from "node:path";
import { z } from "zod";
import { pathExists, readJson } from "../io/files.ts";
import { validated } from "../io/validated.ts";
import { ReviewerIdSchema } from "./judgments.ts";

/** The reviewers file's name inside the report folder. */
export const REVIEWERS_FILE = "review-reviewers.json";

const TOKEN_BYTES = 32;

export const ReviewerSchema = z.strictObject({
  /** r1, r2, ...: what judgments.jsonl and the report name. */
  id: ReviewerIdSchema,
  /** The name given with --invite, or the id. */
  name: z.string().min(1).max(100),
  token: z.string().regex(new RegExp(`^[0-9a-f]{${2 * TOKEN_BYTES}}$`), "must be 64 hex digits"),
});

/** A reviewer and the secret in their URL. */
export type Reviewer = z.infer<typeof ReviewerSchema>;

const ReviewersFileSchema = z.strictObject({ reviewers: z.array(ReviewerSchema).min(1) });

/**
 * One reviewer per name, ids r1, r2, ... in order, each with a fresh token.
 *
 * @example
 * ```ts
 * newReviewers(["r1", "r2", "r3"]).map((r) => r.id); // ["r1", "r2", "r3"]
 * ```
 */
export function newReviewers(names: readonly string[]): Reviewer[] {
  return names.map((name, i) => {
    const bytes = crypto.getRandomValues(new Uint8Array(TOKEN_BYTES));
    const token = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    return { id: `r${i + 1}`, name, token };
  });
}

/**
 * The reviewer whose token `token` is, or null. Every reviewer's token is compared, each in
 * constant time, so the answer's timing says nothing of which (or how much of one) matched.
 *
 * @example
 * ```ts
 * declare const reviewers: Reviewer[];
 * reviewerOfToken(reviewers, "not a token"); // null
 * ```
 */
export function reviewerOfToken(reviewers: readonly Reviewer[], token: string): Reviewer | null {
  const given = new TextEncoder().encode(token.padEnd(2 * TOKEN_BYTES, "\0").slice(0, 2 * TOKEN_BYTES));
  const rightLength = token.length === 2 * TOKEN_BYTES;
  let found: Reviewer | null = null;
  for (const reviewer of reviewers) {
    const equal = timingSafeEqual(given, new TextEncoder().encode(reviewer.token));
    if (equal && rightLength) found = reviewer;
  }
  return found;
}

/** Reads the folder's reviewers; null when the file does not exist yet. */
export async function readReviewers(dir: string): Promise<Reviewer[] | null> {
  const path = join(dir, REVIEWERS_FILE);
  if (!(await pathExists(path))) return null;
  return validated(ReviewersFileSchema, await readJson(path), path, "invalid reviewers file").reviewers;
}

/**
 * Writes the reviewers as a new file, readable and writable by the owner only from its creation
 * (a file made and then narrowed would be readable for a moment). An existing file is an error:
 * the tokens are made once per study.
 */
export async function writeReviewers(dir: string, reviewers: readonly Reviewer[]): Promise<void> {
  const bytes = new TextEncoder().encode(JSON.stringify({ reviewers }, null, 1) + "\n");
  await Deno.writeFile(join(dir, REVIEWERS_FILE), bytes, { mode: 0o600, createNew: true });
}
