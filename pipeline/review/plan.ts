/**
 * What the review page shows: the items (the report's explained mistakes and adversarial
 * examples) and, per item, whether its explanation is shown. The choice is random, so that
 * judgments with and without explanations can be compared, and made once: it is kept in
 * `DIR/review-plan.json` so that every later start and reload shows the same thing.
 *
 * @example
 * ```ts
 * import type { AuditReport } from "../schema/report.ts";
 * declare const report: AuditReport;
 * const items = reviewItems(report);
 * const plan = await loadOrCreatePlan("audit-report", items);
 * console.log(items.filter((item) => plan.explanationShown[item.id]).length, "shown with explanations");
 * ```
 */
import { join } from "node:path";
import { z } from "zod";
import type { AuditReport } from "../schema/report.ts";
import { pathExists, readJson, writeAtomic } from "../io/files.ts";
import { seededPermutation } from "../io/prng.ts";
import { InputError } from "../io/input_error.ts";
import { validated } from "../io/validated.ts";
import { itemId, ItemIdSchema, type ItemKind } from "./judgments.ts";

/** The plan's file name inside the report folder. */
export const PLAN_FILE = "review-plan.json";

/** One image to judge, with what the page shows of it (report-relative asset paths). */
export interface ReviewItem {
  id: string;
  kind: ItemKind;
  /** The example's position in the data source's order. */
  index: number;
  label: number;
  /** The model's answer on `image`. */
  predicted: number;
  image: string;
  saliency: string;
  /** The adversarial example's attack and epsilon; null for a mistake. */
  attack: { name: NonNullable<AuditReport["explanations"]>["adversarial"][number]["attack"]; epsilon: number } | null;
}

export const ReviewPlanSchema = z.strictObject({
  /** Seed of the random choice, drawn at the first start. */
  seed: z.number().int().min(0),
  createdAt: z.iso.datetime(),
  /** Whether each item (by id) is shown with its explanation. */
  explanationShown: z.record(ItemIdSchema, z.boolean()),
});

export type ReviewPlan = z.infer<typeof ReviewPlanSchema>;

/**
 * The report's items in order: its explained mistakes, then its adversarial examples. None when
 * the audit ran without explanations.
 *
 * @example
 * ```ts
 * import type { AuditReport } from "../schema/report.ts";
 * declare const report: AuditReport;
 * reviewItems(report).map((item) => item.id); // ["mistake:17", "mistake:3", "adversarial:0", ...]
 * ```
 */
export function reviewItems(report: AuditReport): ReviewItem[] {
  const e = report.explanations;
  if (e === null) return [];
  const items: ReviewItem[] = [
    ...e.mistakes.map((m): ReviewItem => ({
      id: itemId("mistake", m.index),
      kind: "mistake",
      index: m.index,
      label: m.label,
      predicted: m.predicted,
      image: m.image,
      saliency: m.saliency,
      attack: null,
    })),
    ...e.adversarial.map((a): ReviewItem => ({
      id: itemId("adversarial", a.index),
      kind: "adversarial",
      index: a.index,
      label: a.label,
      predicted: a.adversarial.predicted,
      image: a.adversarial.image,
      saliency: a.adversarial.saliency,
      attack: { name: a.attack, epsilon: a.epsilon },
    })),
  ];
  // Judgments name items by example, so an example may appear once per kind.
  const seen = new Set<string>();
  for (const item of items) {
    if (seen.has(item.id)) throw new InputError(`report.json: explanations list ${item.id} twice`);
    seen.add(item.id);
  }
  return items;
}

/**
 * A new plan: within each kind, a random half of the items (rounded up) is shown with its
 * explanation, so both conditions get about as many judgments of each kind.
 *
 * @example
 * ```ts
 * declare const items: ReviewItem[];
 * makePlan(items, 12345).explanationShown["mistake:17"]; // true or false, the same for seed 12345
 * ```
 */
export function makePlan(items: readonly ReviewItem[], seed: number): ReviewPlan {
  const shown = new Set<string>();
  for (const kind of ["mistake", "adversarial"] as const) {
    const ofKind = items.filter((item) => item.kind === kind);
    const order = seededPermutation(ofKind.length, seed + (kind === "mistake" ? 0 : 1));
    for (const at of order.subarray(0, Math.ceil(ofKind.length / 2))) shown.add(ofKind[at].id);
  }
  const explanationShown = Object.fromEntries(items.map((item) => [item.id, shown.has(item.id)]));
  return { seed, createdAt: new Date().toISOString(), explanationShown };
}

/** Reads and validates a plan; it must cover every item, or it was made for another report. */
async function readPlan(path: string, items: readonly ReviewItem[]): Promise<ReviewPlan> {
  const plan = validated(ReviewPlanSchema, await readJson(path), path, "invalid plan");
  const missing = items.find((item) => !(item.id in plan.explanationShown));
  if (missing) {
    throw new InputError(
      `${path}: no entry for ${missing.id}; it was made for another report (remove it to start anew)`,
    );
  }
  return plan;
}

/**
 * The folder's plan: read from `dir/review-plan.json`, or, at the first start, made with a freshly
 * drawn seed and written there (atomically) for every later start.
 *
 * @example
 * ```ts
 * import type { AuditReport } from "../schema/report.ts";
 * declare const report: AuditReport;
 * const plan = await loadOrCreatePlan("audit-report", reviewItems(report));
 * ```
 */
export async function loadOrCreatePlan(dir: string, items: readonly ReviewItem[]): Promise<ReviewPlan> {
  const path = join(dir, PLAN_FILE);
  if (await pathExists(path)) return await readPlan(path, items);
  const plan = makePlan(items, crypto.getRandomValues(new Uint32Array(1))[0]);
  await writeAtomic(path, new TextEncoder().encode(JSON.stringify(plan, null, 1) + "\n"));
  return plan;
}
