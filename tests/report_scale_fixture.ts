/**
 * A large sample report folder, for tests of how the report scales with the class count: the
 * sample report (report_fixture.ts) carried to `classes` classes (1,000 by default) and
 * `perClass` images each, with bias findings for every class and assets of the sizes an ImageNet
 * audit writes: explanation images 224 px square, a prototype/criticism grid per class of
 * 8 prototypes, 4 criticisms and the mean saliency, `tile` px each. Written as the audit writes it
 * (`writeReport`), so report.json has the audit's size too.
 *
 * The answers, by construction (image `i` has label `i mod classes`, and is the label's
 * `k = floor(i / classes)`-th image):
 * - labels below `HOT_LABELS`: images k < 4 are predicted as `label + classes / 2` (the most
 *   confused pairs, 4 images each), the last one right;
 * - other labels `L`: with `L mod 3 = 1` image 0 is predicted as `L + 1`; with `L mod 3 = 2`
 *   images 0 and 1 as `L + 1` and `L + 2` (mod classes); the rest right;
 * - bias classes with `label mod FLAG_EVERY = FLAGGED_REMAINDER` are flagged.
 *
 * @example
 * ```ts
 * const { dir, report } = await largeReportFolder({ classes: 1000, perClass: 5 });
 * console.log(report.accuracy.perClass.length, `${dir}/report.json`);
 * ```
 */
import { join } from "node:path";
import { gridPng, overlayTile, type Tile } from "../pipeline/explain/image_grid.ts";
import { mulberry32 } from "../pipeline/io/prng.ts";
import { writeReport } from "../pipeline/report/report_file.ts";
import { assetPath } from "../pipeline/schema/asset_path.ts";
import { type AuditReport, AuditReportSchema } from "../pipeline/schema/report.ts";
import type { BiasClass } from "../pipeline/schema/bias.ts";
import { calibration, curve, type Image, mistakeItems, ranking, sampleReportFolder } from "./report_fixture.ts";

type Mistake = AuditReport["mistakes"]["items"][number];
type Explanations = NonNullable<AuditReport["explanations"]>;

/** Labels below this are confused with `label + classes / 2` in 4 of their images. */
export const HOT_LABELS = 10;
/** Bias classes with `label % FLAG_EVERY === FLAGGED_REMAINDER` are flagged. */
export const FLAG_EVERY = 40;
export const FLAGGED_REMAINDER = 7;

const PROTOTYPES = 8;
const CRITICISMS = 4;
const GROUPS = ["indoors", "outdoors"];
/** Distinct pictures made; the many asset files reuse their bytes (same sizes, far less encoding). */
const VARIANTS = 8;
const EXPLANATION_SIDE = 224;

/** What the large report holds. */
export interface LargeReportOptions {
  classes?: number;
  perClass?: number;
  /** Side of each grid thumbnail, in pixels. */
  tile?: number;
  /** Mistakes and adversarial examples shown with explanations (the audit's --shown). */
  shown?: number;
}

/** The class names: four syllables of eight, lower-case letters only (so any collation orders them alike). */
export function largeClassNames(classes: number): string[] {
  const syllables = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo"];
  return Array.from(
    { length: classes },
    (_, i) => [512, 64, 8, 1].map((d) => syllables[Math.floor(i / d) % 8]).join(""),
  );
}

/** The model's answer for image `i`, as the module's comment says. */
function answer(i: number, classes: number): number {
  const label = i % classes;
  const k = Math.floor(i / classes);
  if (label < HOT_LABELS) return k < 4 ? label + classes / 2 : label;
  if (label % 3 === 1 && k === 0) return (label + 1) % classes;
  if (label % 3 === 2 && k < 2) return (label + 1 + k) % classes;
  return label;
}

/** A photo-like RGB tile: smooth colour fields with grain, different per `seed`. */
function photoTile(side: number, seed: number): Tile {
  const random = mulberry32(seed + 1);
  const phase = [random(), random(), random()].map((p) => p * 6.28);
  const rgb = new Uint8Array(side * side * 3);
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      for (let c = 0; c < 3; c++) {
        const field = 0.5 + 0.35 * Math.sin(x / side * 5 + phase[c]) * Math.cos(y / side * 4 - phase[c]);
        rgb[(y * side + x) * 3 + c] = Math.round(255 * Math.min(1, Math.max(0, field + 0.12 * (random() - 0.5))));
      }
    }
  }
  return { height: side, width: side, rgb };
}

/** A grid as prototypeGridPng draws it: prototypes, a gap, criticisms, a gap, the mean saliency. */
function gridVariant(tile: number, seed: number): Uint8Array {
  const tiles = Array.from({ length: PROTOTYPES + CRITICISMS + 1 }, (_, t) => photoTile(tile, seed * 100 + t));
  const last = tiles[tiles.length - 1];
  const grey = Float32Array.from({ length: 3 * tile * tile }, (_, q) => last.rgb[q] / 255);
  const map = Float32Array.from({ length: tile * tile }, (_, q) => Math.exp(-(((q % tile) - tile / 2) ** 2) / tile));
  const saliency = overlayTile(grey, [3, tile, tile], map);
  return gridPng([[...tiles.slice(0, PROTOTYPES), null, ...tiles.slice(PROTOTYPES, -1), null, saliency]], {
    scale: 1,
  });
}

function images(classes: number, perClass: number): { images: Image[]; predicted: number[] } {
  const shown: Image[] = [];
  const predicted: number[] = [];
  for (let index = 0; index < classes * perClass; index++) {
    const label = index % classes;
    const guess = answer(index, classes);
    const wrong = guess !== label;
    const confidence = wrong ? 0.4 + 0.3 * ((index * 0.37) % 1) : 0.6 + 0.35 * ((index * 0.37) % 1);
    const { top, probs } = ranking(classes, guess, wrong ? label : (label + 1) % classes, confidence);
    shown.push({ index, label, top, probs, confidence, margin: probs[0] - probs[1], minEpsilon: null });
    predicted.push(guess);
  }
  return { images: shown, predicted };
}

function biasClass(label: number, name: string, classes: number, total: number, pool: number): BiasClass {
  const example = (k: number) => {
    const index = (label + classes * k) % total;
    return { index, label: index % classes, group: GROUPS[index % 2] };
  };
  const flagged = label % FLAG_EVERY === FLAGGED_REMAINDER;
  const rate = (count: number, of: number) => ({ count, of, rate: of > 0 ? count / of : 0 });
  return {
    label,
    name,
    poolSize: pool,
    sigma: 1.7,
    prototypes: Array.from({ length: PROTOTYPES }, (_, k) => example(k)),
    criticisms: Array.from({ length: CRITICISMS }, (_, k) => ({ ...example(PROTOTYPES + k), witness: 0.1 - 0.05 * k })),
    groups: GROUPS.map((group, g) => ({
      group,
      poolCount: Math.floor(pool / 2),
      poolShare: 0.5,
      prototypeShare: 0.5,
      intoClass: rate(flagged && g === 1 ? 6 : 2, 2000),
      restIntoClass: rate(2, 2000),
      rateRatio: flagged && g === 1 ? 3 : 1,
      pValue: flagged && g === 1 ? 0.00001 : 0.6,
      adjustedPValue: flagged && g === 1 ? 0.02 : 1,
    })),
    mmd: [{
      groups: ["indoors", "outdoors"],
      sizes: [2, 3],
      biased: 0.02,
      unbiased: 0.01,
      sigma: 1.7,
      pValue: 0.3,
      permutations: 200,
    }],
    flagged,
    flaggedGroups: flagged ? ["outdoors"] : [],
    grid: assetPath(`bias-${label}`),
  };
}

/** Every explanation asset path of the report. */
function explanationAssets(report: AuditReport): string[] {
  const e = report.explanations!;
  return [
    ...e.mistakes.flatMap((m) => [m.image, m.saliency]),
    ...e.adversarial.flatMap((a) => [a.clean.image, a.clean.saliency, a.adversarial.image, a.adversarial.saliency]),
    e.sanity!.figure,
  ];
}

/** `shown` explained mistakes (the most confident) and adversarial pairs, the sample's sanity checks. */
function explanations(base: AuditReport, items: Mistake[], images: Image[], shown: number): Explanations {
  const e = base.explanations!;
  const mistakes = [...items].sort((a, b) => b.confidence - a.confidence).slice(0, shown).map((m) => ({
    index: m.index,
    label: m.label,
    predicted: m.predicted,
    confidence: m.confidence,
    image: assetPath(`mistake-${m.index}`),
    saliency: assetPath(`mistake-${m.index}-saliency`),
  }));
  const adversarial = images.filter((im) => im.top[0] === im.label).slice(0, shown).map((im) => ({
    index: im.index,
    label: im.label,
    attack: "pgd" as const,
    epsilon: 0.05,
    clean: {
      predicted: im.label,
      confidence: im.confidence,
      image: assetPath(`adversarial-${im.index}-clean`),
      saliency: assetPath(`adversarial-${im.index}-clean-saliency`),
    },
    adversarial: {
      predicted: im.top[1],
      confidence: 0.5,
      image: assetPath(`adversarial-${im.index}-adversarial`),
      saliency: assetPath(`adversarial-${im.index}-adversarial-saliency`),
    },
  }));
  return { ...e, mistakes, adversarial };
}

/**
 * Writes the large report folder (report.json, assets/) in a fresh temporary folder.
 *
 * @example
 * ```ts
 * const { dir, report } = await largeReportFolder({ tile: 24 });
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function largeReportFolder(
  options: LargeReportOptions = {},
): Promise<{ dir: string; report: AuditReport }> {
  const { classes = 1000, perClass = 5, tile = 24, shown: show = 16 } = options;
  if (classes % 2 !== 0 || classes < 2 * HOT_LABELS) {
    throw new Error(`large report: ${classes} classes, not even or too few`);
  }
  const names = largeClassNames(classes);
  const { dir, report: base } = await sampleReportFolder();
  const { images: shown, predicted } = images(classes, perClass);
  const count = shown.length;
  const items = mistakeItems(shown, predicted, classes);
  const confusion = names.map(() => new Array<number>(classes).fill(0));
  for (const im of shown) confusion[im.label][predicted[im.index]]++;
  const pool = names.map((_, c) => confusion.reduce((s, row) => s + row[c], 0));
  const { ece, table } = calibration(shown, predicted);
  const pgd = curve(shown, predicted, () => null);
  const correct = count - items.length;
  const report = AuditReportSchema.parse({
    ...base,
    model: { ...base.model, name: "large-convnet", classes: names },
    data: { name: "large-sample", count },
    config: { ...base.config, prototypes: PROTOTYPES, criticisms: CRITICISMS, shown: show },
    accuracy: {
      count,
      top1: correct / count,
      top5: shown.filter((im) => im.top.includes(im.label)).length / count,
      rectifiedTop1: (correct + items.filter((m) => m.sameSuperclass).length) / count,
      meanConfidence: shown.reduce((s, im) => s + im.confidence, 0) / count,
      ece,
      calibration: table,
      perClass: names.map((name, label) => ({
        label,
        name,
        count: perClass,
        correct: confusion[label][label],
        accuracy: confusion[label][label] / perClass,
      })),
      confusion,
    },
    mistakes: {
      ...base.mistakes,
      count: items.length,
      counts: {
        labelInTop5: items.filter((m) => m.labelInTop5).length,
        sameSuperclass: items.filter((m) => m.sameSuperclass).length,
        lowMargin: items.filter((m) => m.lowMargin).length,
        unexplained: items.filter((m) => !m.labelInTop5 && !m.sameSuperclass && !m.lowMargin).length,
      },
      items,
    },
    images: shown,
    robustness: {
      ...base.robustness,
      attacked: count,
      curve: pgd,
      fgsm: pgd,
      pgd,
      zeroGradients: 0,
      zeroGradientShare: 0,
      minEpsilon: null,
      warnings: [],
    },
    explanations: explanations(base, items, shown, show),
    bias: {
      settings: { ...base.bias!.settings, prototypes: PROTOTYPES, criticisms: CRITICISMS, comparisons: classes * 2 },
      classes: names.map((name, label) => biasClass(label, name, classes, count, pool[label])),
    },
  });
  // Only what this report names: the sample's own assets go.
  await Deno.remove(join(dir, "assets"), { recursive: true });
  await Deno.mkdir(join(dir, "assets"));
  const grids = Array.from({ length: VARIANTS }, (_, v) => gridVariant(tile, v));
  for (const c of report.bias!.classes) await Deno.writeFile(join(dir, c.grid!), grids[c.label % VARIANTS]);
  const pictures = Array.from(
    { length: VARIANTS },
    (_, v) => gridPng([[photoTile(EXPLANATION_SIDE, v)]], { scale: 1, gap: 0 }),
  );
  for (const [i, path] of explanationAssets(report).entries()) {
    await Deno.writeFile(join(dir, path), pictures[i % VARIANTS]);
  }
  await writeReport(dir, report, { force: true });
  return { dir, report };
}
