/**
 * The study's design, made once and kept in `DIR/review-plan.json` so that every later start and
 * reload shows the same thing: the items (the audit's random study sample where the report has one,
 * else the report's shown mistakes and adversarial examples), each with its stratum and the
 * population it stands for; the reviewers (ids and names, never tokens); and the assignments:
 * each item to `perItem` distinct reviewers, balanced over reviewers, with whether the explanation
 * and the label are shown randomised per (item, reviewer).
 *
 * @example
 * ```ts
 * import type { AuditReport } from "../schema/report.ts";
 * declare const report: AuditReport;
 * const plan = makePlan(reviewItems(report), studyPopulation(report), [{ id: "r1", name: "r1" }], {
 *   perItem: 1,
 *   label: "shown",
 *   seed: 7,
 * });
 * console.log(plan.assignments.filter((a) => a.explanationShown).length, "shown with explanations");
 * ```
 */
import { join } from "node:path";
import { z } from "zod";
import type { AuditReport } from "../schema/report.ts";
import { mistakeStratum } from "../schema/review.ts";
import { pathExists, readJson, writeAtomic } from "../io/files.ts";
import { mulberry32, seededPermutation } from "../io/prng.ts";
import { InputError } from "../io/input_error.ts";
import { validated } from "../io/validated.ts";
import { itemId, ItemIdSchema, type ItemKind, ItemKindSchema, ReviewerIdSchema } from "./judgments.ts";

/** The plan's file name inside the report folder. */
export const PLAN_FILE = "review-plan.json";

/** The adversarial examples' one stratum. */
const ADVERSARIAL_STRATUM = "all";

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
  /** The population stratum it was sampled in (a mistake's taxonomy category; "all" for adversarial ones). */
  stratum: string;
}

/** Whether the question shows the label: always, never, or randomised per (item, reviewer). */
export const LABEL_CHOICES = ["shown", "hidden", "both"] as const;

/** The population the items were drawn from: per kind, items per stratum; and whether the draw was random. */
export interface StudyPopulation {
  /** "random": the audit's seeded study sample; "shown": the report's most confident mistakes (not random). */
  sample: "random" | "shown";
  strata: Record<ItemKind, Record<string, number>>;
}

const count = z.number().int().min(0);

export const ReviewPlanSchema = z.strictObject({
  version: z.literal(2),
  /** Seed of the random choices, drawn at the first start. */
  seed: z.number().int().min(0),
  createdAt: z.iso.datetime(),
  /** Reviewers per item. */
  perItem: z.number().int().min(1),
  label: z.enum(LABEL_CHOICES),
  sample: z.enum(["random", "shown"]),
  /** Per kind, the population's items per stratum. */
  population: z.strictObject({
    mistake: z.record(z.string(), count),
    adversarial: z.record(z.string(), count),
  }),
  reviewers: z.array(z.strictObject({ id: ReviewerIdSchema, name: z.string() })).min(1),
  items: z.array(z.strictObject({
    id: ItemIdSchema,
    kind: ItemKindSchema,
    stratum: z.string(),
    /** Population items this one stands for: its stratum's size over the items sampled in it. */
    weight: z.number().positive(),
  })),
  assignments: z.array(z.strictObject({
    item: ItemIdSchema,
    reviewer: ReviewerIdSchema,
    explanationShown: z.boolean(),
    labelShown: z.boolean(),
  })),
});

export type ReviewPlan = z.infer<typeof ReviewPlanSchema>;

/** One (item, reviewer) of the plan. */
export type Assignment = ReviewPlan["assignments"][number];

/** A picture of the report as a review item. */
function item(
  kind: ItemKind,
  picture: { index: number; label: number; predicted: number; image: string; saliency: string },
  stratum: string,
  attack: ReviewItem["attack"],
): ReviewItem {
  const { index, label, predicted, image, saliency } = picture;
  return { id: itemId(kind, index), kind, index, label, predicted, image, saliency, attack, stratum };
}

/** The report's study sample as items, or null when it has none. */
function studyItems(report: AuditReport): ReviewItem[] | null {
  const study = report.study;
  if (!study) return null;
  const attack = study.adversarial.attack;
  return [
    ...study.mistakes.items.map((m) => item("mistake", m, m.stratum, null)),
    ...study.adversarial.items.map((a) =>
      item("adversarial", a, ADVERSARIAL_STRATUM, { name: attack, epsilon: a.epsilon })
    ),
  ];
}

/** The report's shown (explained) mistakes and adversarial examples as items. */
function shownItems(report: AuditReport): ReviewItem[] {
  const e = report.explanations;
  if (e === null) return [];
  const taxonomy = new Map(report.mistakes.items.map((m) => [m.index, mistakeStratum(m)]));
  return [
    ...e.mistakes.map((m) => item("mistake", m, taxonomy.get(m.index) ?? "unexplained", null)),
    ...e.adversarial.map((a) =>
      item("adversarial", { ...a, ...a.adversarial }, ADVERSARIAL_STRATUM, { name: a.attack, epsilon: a.epsilon })
    ),
  ];
}

/**
 * The report's items in order, mistakes then adversarial examples: its study sample where it has
 * one, else its shown mistakes and adversarial examples. None when the audit ran without explanations.
 *
 * @example
 * ```ts
 * import type { AuditReport } from "../schema/report.ts";
 * declare const report: AuditReport;
 * reviewItems(report).map((item) => item.id); // ["mistake:17", "mistake:3", "adversarial:0", ...]
 * ```
 */
export function reviewItems(report: AuditReport): ReviewItem[] {
  const items = studyItems(report) ?? shownItems(report);
  // Judgments name items by example, so an example may appear once per kind.
  const seen = new Set<string>();
  for (const item of items) {
    if (seen.has(item.id)) throw new InputError(`report.json: the review items list ${item.id} twice`);
    seen.add(item.id);
  }
  return items;
}

/**
 * What the items stand for: with a study sample, the audit's populations; without, the report's
 * mistakes by stratum and the attack's flips, from which the shown items were not drawn at random.
 *
 * @example
 * ```ts
 * import type { AuditReport } from "../schema/report.ts";
 * declare const report: AuditReport;
 * studyPopulation(report).sample; // "random" when the audit wrote a study sample
 * ```
 */
export function studyPopulation(report: AuditReport): StudyPopulation {
  const study = report.study;
  if (study) {
    return {
      sample: "random",
      strata: {
        mistake: { ...study.mistakes.population } as Record<string, number>,
        adversarial: { [ADVERSARIAL_STRATUM]: study.adversarial.population },
      },
    };
  }
  const mistake: Record<string, number> = {};
  for (const m of report.mistakes.items) mistake[mistakeStratum(m)] = (mistake[mistakeStratum(m)] ?? 0) + 1;
  const flips = report.robustness.curve.at(-1)?.flips ?? 0;
  return { sample: "shown", strata: { mistake, adversarial: { [ADVERSARIAL_STRATUM]: flips } } };
}

/** How a new plan is made. */
export interface PlanOptions {
  /** Reviewers per item; at most the number of reviewers. */
  perItem: number;
  label: typeof LABEL_CHOICES[number];
  seed: number;
}

/**
 * A new plan. Items are dealt in a seeded order, each to `perItem` consecutive reviewers of the
 * round (so no reviewer gets an item twice, and loads differ by at most one). Within each item the
 * explanation alternates over its reviewers from a seeded coin, so each item is seen about as often
 * with as without it; with label "both", the label is shown or not by a seeded coin per (item, reviewer).
 *
 * @example
 * ```ts
 * declare const items: ReviewItem[];
 * declare const population: StudyPopulation;
 * const reviewers = [{ id: "r1", name: "ann" }, { id: "r2", name: "bo" }, { id: "r3", name: "cy" }];
 * makePlan(items, population, reviewers, { perItem: 3, label: "both", seed: 12345 }).assignments.length;
 * ```
 */
export function makePlan(
  items: readonly ReviewItem[],
  population: StudyPopulation,
  reviewers: readonly { id: string; name: string }[],
  options: PlanOptions,
): ReviewPlan {
  const perItem = Math.min(options.perItem, reviewers.length);
  const sampled = new Map<string, number>();
  for (const item of items) {
    sampled.set(`${item.kind} ${item.stratum}`, (sampled.get(`${item.kind} ${item.stratum}`) ?? 0) + 1);
  }
  const weight = (item: ReviewItem) => {
    const size = population.strata[item.kind][item.stratum] ?? 0;
    // An item outside its stratum's counted population stands for itself.
    return Math.max(1, size) / sampled.get(`${item.kind} ${item.stratum}`)!;
  };
  const random = mulberry32((options.seed ^ 0x5eed) >>> 0);
  const order = seededPermutation(items.length, options.seed);
  const assignments: Assignment[] = [];
  order.forEach((at, round) => {
    const item = items[at];
    const firstShown = random() < 0.5;
    for (let j = 0; j < perItem; j++) {
      assignments.push({
        item: item.id,
        reviewer: reviewers[(round * perItem + j) % reviewers.length].id,
        explanationShown: (j % 2 === 0) === firstShown,
        labelShown: options.label === "both" ? random() < 0.5 : options.label === "shown",
      });
    }
  });
  return {
    version: 2,
    seed: options.seed,
    createdAt: new Date().toISOString(),
    perItem,
    label: options.label,
    sample: population.sample,
    population: { mistake: population.strata.mistake, adversarial: population.strata.adversarial },
    reviewers: reviewers.map(({ id, name }) => ({ id, name })),
    items: items.map((item) => ({ id: item.id, kind: item.kind, stratum: item.stratum, weight: weight(item) })),
    assignments,
  };
}

/** Reads and validates a plan; it must cover every item, or it was made for another report. */
async function readPlan(path: string, items: readonly ReviewItem[]): Promise<ReviewPlan> {
  const plan = validated(ReviewPlanSchema, await readJson(path), path, "invalid plan (remove it to start anew)");
  const planned = new Set(plan.items.map((item) => item.id));
  const missing = items.find((item) => !planned.has(item.id));
  if (missing || planned.size !== items.length) {
    throw new InputError(
      `${path}: ${
        missing ? `no entry for ${missing.id}` : "items the report does not have"
      }; it was made for another report (remove it to start anew)`,
    );
  }
  return plan;
}

/**
 * The folder's plan: read from `dir/review-plan.json`, or, at the first start, made by `make` with
 * a freshly drawn seed and written there (atomically) for every later start.
 *
 * @example
 * ```ts
 * import type { AuditReport } from "../schema/report.ts";
 * declare const report: AuditReport;
 * const items = reviewItems(report);
 * const plan = await loadOrCreatePlan("audit-report", items, (seed) =>
 *   makePlan(items, studyPopulation(report), [{ id: "r1", name: "r1" }], { perItem: 3, label: "shown", seed }));
 * ```
 */
export async function loadOrCreatePlan(
  dir: string,
  items: readonly ReviewItem[],
  make: (seed: number) => ReviewPlan,
): Promise<{ plan: ReviewPlan; created: boolean }> {
  const path = join(dir, PLAN_FILE);
  if (await pathExists(path)) return { plan: await readPlan(path, items), created: false };
  const plan = make(crypto.getRandomValues(new Uint32Array(1))[0]);
  await writeAtomic(path, new TextEncoder().encode(JSON.stringify(plan, null, 1) + "\n"));
  return { plan, created: true };
}

/**
 * The study's items and plan for `report`: the plan read from the folder, or made now (at the
 * first start) over the report's items and population for `reviewers`.
 *
 * @example
 * ```ts
 * import type { AuditReport } from "../schema/report.ts";
 * declare const report: AuditReport;
 * const { items, plan } = await studyPlan("audit-report", report, [{ id: "r1", name: "ann" }], {
 *   perItem: 3,
 *   label: "shown",
 * });
 * ```
 */
export async function studyPlan(
  dir: string,
  report: AuditReport,
  reviewers: readonly { id: string; name: string }[],
  options: Omit<PlanOptions, "seed">,
): Promise<{ items: ReviewItem[]; plan: ReviewPlan }> {
  const items = reviewItems(report);
  const population = studyPopulation(report);
  const { plan } = await loadOrCreatePlan(
    dir,
    items,
    (seed) => makePlan(items, population, reviewers, { ...options, seed }),
  );
  return { items, plan };
}
