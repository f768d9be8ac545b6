/**
 * A sample audit report folder for tests of what reads one (the HTML report, the review page):
 * a schema-valid `report.json` over a made-up 4-class model and 24 images, with a few mistakes, FGSM
 * and PGD curves, and, when asked, explanations, bias findings and review figures, plus the small
 * PNG assets it names under `assets/`. Numbers are consistent with each other (top-1 agrees with the
 * confusion matrix and the mistakes) but come from no model.
 *
 * @example
 * ```ts
 * import { join } from "node:path";
 * import { renderReportHtml } from "../pipeline/report/mod.ts";
 * const { dir, report } = await sampleReportFolder({ classNames: ["cat", "<b>dog</b>"], bias: false });
 * const html = await renderReportHtml(report, (path) => Deno.readFile(join(dir, path)));
 * ```
 */
import { join } from "node:path";
import { assetPath } from "../pipeline/schema/asset_path.ts";
import { type AuditReport, AuditReportSchema } from "../pipeline/schema/report.ts";
import type { BiasReport } from "../pipeline/schema/bias.ts";
import { mulberry32 } from "../pipeline/io/prng.ts";
import { gridPicture, imageTile, overlayTile, type Tile } from "../pipeline/explain/image_grid.ts";
import type { ReviewSummary } from "../pipeline/schema/review.ts";

/** What the sample report contains. */
export interface SampleReportOptions {
  /** The model's classes (at least 2); the labels cycle through them. */
  classNames?: string[];
  /** Mistakes and adversarial pairs with saliency, and sanity checks (default true). */
  explanations?: boolean;
  /** Prototypes and group findings for classes 0 and 1, class 1 flagged (default true). */
  bias?: boolean;
  /** A review summary, as after people judged some items (default false). */
  review?: boolean;
}

export const SAMPLE_CLASSES = ["cat", "dog", "sparrow", "trout"];

const PER_CLASS = 6;
const EPSILONS = [0, 0.05, 0.1, 0.2];
const SHAPE = [1, 8, 8] as const;
const SHOWN = 3;
const LOW_MARGIN = 0.1;
const GROUPS = ["indoors", "outdoors"];

/** One image of a report. */
export type Image = AuditReport["images"][number];
type Mistake = AuditReport["mistakes"]["items"][number];
type Curve = AuditReport["robustness"]["curve"];

/** A synthetic 8x8 picture for image `index`: a bright bar in the label's band over noise. */
function picture(index: number, label: number): Float32Array {
  const random = mulberry32(index + 1);
  const pixels = new Float32Array(64).map(() => 0.3 * random());
  for (let x = 0; x < 8; x++) pixels[((2 * label) % 8) * 8 + x] = 0.9;
  return pixels;
}

/** A saliency map peaked at (row, column). */
function bump(row: number, column: number): Float32Array {
  return new Float32Array(64).map((_, q) => Math.exp(-((Math.floor(q / 8) - row) ** 2 + (q % 8 - column) ** 2) / 4));
}

/** Writes PNG assets and remembers their report-relative paths. */
class Assets {
  readonly files = new Map<string, Uint8Array>();
  add(name: string, rows: (Tile | null)[][]): string {
    // 32 px cells: the 8 px pictures drawn x4.
    const picture = gridPicture(rows, { cell: 32, gap: rows.flat().length > 1 ? 2 : 0 });
    const path = assetPath(name, picture.format);
    this.files.set(path, picture.bytes);
    return path;
  }
  image(name: string, index: number, label: number): string {
    return this.add(name, [[imageTile(picture(index, label), SHAPE)]]);
  }
  overlay(name: string, index: number, label: number, peak: number): string {
    return this.add(name, [[overlayTile(picture(index, label), SHAPE, bump(2 * label % 8, peak % 8))]]);
  }
}

/** Top-5 classes (best first) with probabilities: `first` gets `confidence`, `second` the most of the rest. */
export function ranking(classes: number, first: number, second: number, confidence: number) {
  const others = Array.from({ length: classes }, (_, c) => c).filter((c) => c !== first && c !== second);
  const top = [first, second, ...others].slice(0, 5);
  let rest = 1 - confidence;
  const probs = top.map((_, k) => {
    if (k === 0) return confidence;
    const p = k === top.length - 1 ? rest : rest * 0.6;
    rest -= p;
    return p;
  });
  return { top, probs };
}

/** The images: label i mod classes; every fifth image (from the fourth) is a mistake. */
function sampleImages(classes: number): { images: Image[]; predicted: number[] } {
  const images: Image[] = [];
  const predicted: number[] = [];
  for (let index = 0; index < classes * PER_CLASS; index++) {
    const label = index % classes;
    const wrong = index % 5 === 3;
    const answer = wrong ? (label + 1 + (index % (classes - 1))) % classes : label;
    const confidence = wrong ? 0.4 + 0.3 * ((index * 0.37) % 1) : 0.6 + 0.35 * ((index * 0.37) % 1);
    const { top, probs } = ranking(classes, answer, wrong ? label : (label + 1) % classes, confidence);
    // Correct images flip at some epsilon; every third one survives the whole sweep.
    const minEpsilon = wrong || index % 3 === 0 ? null : Math.round((0.02 + 0.15 * ((index * 0.61) % 1)) * 1e4) / 1e4;
    images.push({ index, label, top, probs, confidence, margin: probs[0] - (probs[1] ?? 0), minEpsilon });
    predicted.push(answer);
  }
  return { images, predicted };
}

/** Two superclasses: the first half of the classes and the second. */
const superclass = (c: number, classes: number) => (c < classes / 2 ? 0 : 1);

/** The mistakes among `images` (answers `predicted`), superclasses the first and second half of the classes. */
export function mistakeItems(images: Image[], predicted: number[], classes: number): Mistake[] {
  return images.filter((im) => predicted[im.index] !== im.label).map((im) => {
    const same = superclass(im.label, classes) === superclass(predicted[im.index], classes);
    return {
      index: im.index,
      label: im.label,
      predicted: predicted[im.index],
      top: im.top,
      confidence: im.confidence,
      margin: im.margin,
      labelInTop5: im.top.includes(im.label),
      sameSuperclass: same,
      lowMargin: im.margin < LOW_MARGIN,
      distance: same ? 2 : 4,
    };
  });
}

/** The taxonomy's counts of a list of mistakes, counted here (a mistake of none of the kinds is unexplained). */
export function mistakeCounts(items: Mistake[]): AuditReport["mistakes"]["counts"] {
  return {
    labelInTop5: items.filter((m) => m.labelInTop5).length,
    sameSuperclass: items.filter((m) => m.sameSuperclass).length,
    lowMargin: items.filter((m) => m.lowMargin).length,
    unexplained: items.filter((m) => !m.labelInTop5 && !m.sameSuperclass && !m.lowMargin).length,
  };
}

/** Accuracy per epsilon when each image flips at `flipAt(image)` (null: never), correct ones only. */
export function curve(images: Image[], predicted: number[], flipAt: (im: Image) => number | null): Curve {
  const correct = images.filter((im) => predicted[im.index] === im.label);
  return EPSILONS.map((epsilon) => {
    const flips = epsilon === 0 ? 0 : correct.filter((im) => (flipAt(im) ?? Infinity) <= epsilon).length;
    const sameSuperclass = Math.floor(flips / 2);
    return {
      epsilon,
      accuracy: (correct.length - flips) / images.length,
      successRate: correct.length > 0 ? flips / correct.length : null,
      flips,
      sameSuperclass,
      sameSuperclassShare: flips > 0 ? sameSuperclass / flips : null,
      distanceHistogram: [0, 0, sameSuperclass, 0, flips - sameSuperclass],
    };
  });
}

/** 15 equal-width confidence bins and the expected calibration error over them. */
export function calibration(images: Image[], predicted: number[]) {
  const bins = Array.from({ length: 15 }, (_, b) => ({ lo: b / 15, hi: (b + 1) / 15, hits: 0, sum: 0, count: 0 }));
  for (const im of images) {
    const bin = bins[Math.min(14, Math.floor(im.confidence * 15))];
    bin.count++;
    bin.sum += im.confidence;
    if (predicted[im.index] === im.label) bin.hits++;
  }
  const ece = bins.reduce((e, b) => e + (b.count > 0 ? Math.abs(b.hits - b.sum) / images.length : 0), 0);
  const table = bins.map((b) => ({
    lo: b.lo,
    hi: b.hi,
    count: b.count,
    accuracy: b.count > 0 ? b.hits / b.count : null,
    confidence: b.count > 0 ? b.sum / b.count : null,
  }));
  return { ece, table };
}

function sampleExplanations(assets: Assets, images: Image[], items: Mistake[], classes: number) {
  const shownMistakes = [...items].sort((a, b) => b.confidence - a.confidence).slice(0, SHOWN).map((m) => ({
    index: m.index,
    label: m.label,
    predicted: m.predicted,
    confidence: m.confidence,
    image: assets.image(`mistake-${m.index}`, m.index, m.label),
    saliency: assets.overlay(`mistake-${m.index}-saliency`, m.index, m.label, m.index),
  }));
  const adversarial = images.filter((im) => im.minEpsilon !== null).slice(0, 2).map((im) => {
    const name = `adversarial-${im.index}`;
    return {
      index: im.index,
      label: im.label,
      attack: "pgd" as const,
      epsilon: EPSILONS.find((e) => e >= im.minEpsilon!)!,
      clean: {
        predicted: im.label,
        confidence: im.confidence,
        image: assets.image(`${name}-clean`, im.index, im.label),
        saliency: assets.overlay(`${name}-clean-saliency`, im.index, im.label, 2),
      },
      adversarial: {
        predicted: (im.label + 1) % classes,
        confidence: 0.55,
        image: assets.image(`${name}-adversarial`, im.index + 100, im.label),
        saliency: assets.overlay(`${name}-adversarial-saliency`, im.index + 100, im.label, 6),
      },
    };
  });
  const layers = ["fc", "conv2", "conv1"];
  const methods = [
    { method: "gradient" as const, spearman: [1, 0.42, 0.18, 0.05] },
    { method: "smoothGrad" as const, spearman: [1, 0.61, 0.33, 0.12] },
  ];
  // As sanityFigurePng draws it: the image, then a row per method with a map per cascade stage.
  const figure = assets.add("sanity", [
    [imageTile(picture(0, 0), SHAPE)],
    ...methods.map((_, m) =>
      [null, ...layers].map((_, s) => overlayTile(picture(0, 0), SHAPE, bump(s * 2, 1 + m * 4)))
    ),
  ]);
  return {
    method: "gradient" as const,
    mistakes: shownMistakes,
    adversarial,
    sanity: {
      images: 2,
      layers,
      methods: methods.map((m) => ({
        method: m.method,
        stages: [null, ...layers].map((layer, s) => ({ layer, spearman: m.spearman[s] })),
      })),
      figure,
      ...sampleSanityChecks(methods.map((m) => m.method), layers),
    },
  };
}

/** The sanity checks' verdicts, similarities and IG completeness gaps, one method failing the data test. */
function sampleSanityChecks(methods: ("gradient" | "smoothGrad")[], layers: string[]) {
  const similarity = (v: number) => ({ spearman: v / 2, absSpearman: v, ssim: v * 0.8, hog: v * 0.6 });
  const measure = (v: number) => ({ mean: v, low: v - 0.05, high: v + 0.05, passes: v + 0.05 < 0.5 });
  const tests = ["cascading", "independent", "data"] as const;
  return {
    indices: [0, 3],
    similarity: methods.map((method, m) => ({
      method,
      cascading: layers.map((layer, s) => ({ layer, mean: similarity(0.5 / (1 + s + m)) })),
      independent: layers.map((layer, s) => ({ layer, mean: similarity(0.3 + 0.1 * s) })),
      data: similarity(0.2 + 0.5 * m),
    })),
    randomLabelModel: { path: "models/shuffled", name: "shuffled", accuracy: 0.1 },
    verdict: {
      threshold: 0.5,
      level: 0.95,
      resamples: 2000,
      verdicts: methods.flatMap((method, m) =>
        tests.map((test, t) => {
          const v = 0.2 + 0.25 * m * t;
          const measures = { spearman: measure(v / 2), absSpearman: measure(v), ssim: measure(v), hog: measure(v) };
          return { method, test, measures, passes: Object.values(measures).every((x) => x.passes) };
        })
      ),
    },
    completeness: [
      { index: 0, attributionSum: 2.41, scoreDifference: 2.42, gap: -0.01, relativeGap: 0.01 / 2.42 },
      { index: 3, attributionSum: 0, scoreDifference: 0, gap: 0, relativeGap: null },
    ],
  };
}

function sampleBias(assets: Assets, images: Image[], predicted: number[], names: string[]): BiasReport {
  const groupOf = (index: number) => GROUPS[index % 2];
  const tile = (e: { index: number; label: number }) => imageTile(picture(e.index, e.label), SHAPE);
  const rate = (count: number, of: number) => ({ count, of, rate: of > 0 ? count / of : 0 });
  const classes = [0, 1].map((label) => {
    const pool = images.filter((im) => predicted[im.index] === label);
    const flagged = label === 1;
    const [a, b, c] = pool.map((im) => ({ index: im.index, label: im.label, group: groupOf(im.index) }));
    const findings = GROUPS.map((group, g) => {
      const poolCount = pool.filter((im) => groupOf(im.index) === group).length;
      const strong = flagged && g === 1;
      return {
        group,
        poolCount,
        poolShare: pool.length > 0 ? poolCount / pool.length : 0,
        prototypeShare: 0.5,
        intoClass: rate(strong ? 3 : 1, 9),
        restIntoClass: rate(1, 9),
        rateRatio: strong ? 3 : 1,
        pValue: strong ? 0.004 : 0.62,
        adjustedPValue: strong ? 0.016 : 1,
      };
    });
    return {
      label,
      name: names[label],
      poolSize: pool.length,
      sigma: 1.3,
      prototypes: [a, b],
      criticisms: [{ ...c, witness: flagged ? 0.21 : -0.04 }],
      groups: findings,
      mmd: [{
        groups: ["indoors", "outdoors"] as [string, string],
        sizes: [3, 3] as [number, number],
        biased: flagged ? 0.081 : 0.012,
        unbiased: flagged ? 0.052 : -0.003,
        sigma: 1.3,
        pValue: flagged ? 0.01 : 0.41,
        permutations: 200,
      }],
      flagged,
      flaggedGroups: flagged ? ["outdoors"] : [],
      // As prototypeGridPng draws it: prototypes, a blank cell, criticisms.
      grid: assets.add(`bias-${label}`, [[tile(a), tile(b), null, tile(c)]]),
    };
  });
  return {
    settings: {
      featureNode: "flatten",
      prototypes: 2,
      criticisms: 1,
      permutations: 200,
      alpha: 0.05,
      rateRatio: 2,
      significance: "one-sided Fisher exact test of the group's rate against the other groups', Bonferroni-adjusted",
      comparisons: 4,
      seed: 7,
    },
    classes,
  };
}

function sampleReview(top1: number, count: number): ReviewSummary {
  return {
    lines: 9,
    malformedLines: 1,
    mistakes: { judged: 3, acceptable: 1, notAcceptable: 1, labelWrong: 1 },
    adversarial: { judged: 2, acceptable: 0, notAcceptable: 2, labelWrong: 0 },
    rectifiedTop1: Math.min(1, top1 + 2 / count),
    rectifiedRobustness: 1,
    agreement: { withExplanation: 0.4, withoutExplanation: 0.25 },
  };
}

/** Markup that would run a script, make an element or add an attribute wherever a page let it in unescaped. */
export const HOSTILE = `<script>alert(1)</script><i a="1">&amp;'"</i> " onmouseover="x`;

/**
 * The report with `HOSTILE` appended to every string it holds, timings' stage names included, asset
 * paths aside. Enum strings (the attack's name) change too, so the result no longer passes the
 * schema: a page must be safe whatever the report holds, not because the schema said so.
 *
 * @example
 * ```ts
 * const { report } = await sampleReportFolder();
 * const hostile = hostileReport(report); // hostile.model.classes[0] === "cat" + HOSTILE
 * ```
 */
export function hostileReport(report: AuditReport): AuditReport {
  const spoil = (value: unknown, key: string): unknown => {
    if (typeof value === "string") return value.startsWith("assets/") ? value : value + HOSTILE;
    if (Array.isArray(value)) return value.map((v) => spoil(v, ""));
    if (value === null || typeof value !== "object") return value;
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [key === "timings" ? k + HOSTILE : k, spoil(v, k)]),
    );
  };
  return spoil(report, "") as AuditReport;
}

/**
 * Writes a sample report folder (report.json and assets/) in a fresh temporary folder.
 *
 * @example
 * ```ts
 * const { dir, report } = await sampleReportFolder({ review: true });
 * ```
 */
export async function sampleReportFolder(
  options: SampleReportOptions = {},
): Promise<{ dir: string; report: AuditReport }> {
  const { classNames = SAMPLE_CLASSES, explanations = true, bias = true, review = false } = options;
  const classes = classNames.length;
  const assets = new Assets();
  const { images, predicted } = sampleImages(classes);
  const items = mistakeItems(images, predicted, classes);
  const count = images.length;
  const correct = count - items.length;
  const top1 = correct / count;
  const { ece, table } = calibration(images, predicted);
  const confusion = classNames.map(() => new Array<number>(classes).fill(0));
  for (const im of images) confusion[im.label][predicted[im.index]]++;
  const pgd = curve(images, predicted, (im) => im.minEpsilon);
  const flipEpsilons = images.flatMap((im) => (im.minEpsilon === null ? [] : [im.minEpsilon])).sort((a, b) => a - b);
  const zeroGradients = 3;
  const report = AuditReportSchema.parse({
    schemaVersion: 1,
    createdAt: "2025-01-01T12:00:00.000Z",
    model: {
      name: "sample-convnet",
      path: "models/sample-convnet",
      sha256: "0123456789abcdef".repeat(4),
      classes: classNames,
      inputRange: [0, 1],
    },
    data: { name: "sample-bars", count },
    adapter: {
      description: "llvmpipe (LLVM 15.0.6, 256 bits)",
      vendor: "mesa",
      architecture: "",
      isFallbackAdapter: true,
      backend: "gl",
      driver: "Mesa 22.3.6",
      backendChoice: "probed",
    },
    config: {
      batchSize: 8,
      limit: null,
      epsilons: EPSILONS,
      attack: "pgd",
      pgd: { steps: 10, stepFraction: 0.25, randomStart: true },
      lowMargin: LOW_MARGIN,
      superclassDepth: 1,
      hierarchy: "hierarchy.json",
      resolution: 0.005,
      seed: 7,
      attackSample: null,
      saliency: explanations ? "gradient" : "none",
      shown: SHOWN,
      prototypes: bias ? 2 : 0,
      criticisms: bias ? 1 : 0,
      groups: bias ? "groups.csv" : null,
    },
    timings: {
      evaluate: 0.8,
      attack: 2.4,
      minEpsilon: 1.1,
      ...(explanations ? { explanations: 0.9 } : {}),
      ...(bias ? { bias: 0.5 } : {}),
      total: 5.9,
    },
    accuracy: {
      count,
      top1,
      top5: images.filter((im) => im.top.includes(im.label)).length / count,
      rectifiedTop1: (correct + items.filter((m) => m.sameSuperclass).length) / count,
      meanConfidence: images.reduce((s, im) => s + im.confidence, 0) / count,
      ece,
      calibration: table,
      perClass: classNames.map((name, label) => {
        const n = confusion[label].reduce((s, v) => s + v, 0);
        return {
          label,
          name,
          count: n,
          correct: confusion[label][label],
          accuracy: n > 0 ? confusion[label][label] / n : null,
        };
      }),
      confusion,
    },
    mistakes: {
      count: items.length,
      lowMarginThreshold: LOW_MARGIN,
      superclassDepth: 1,
      counts: mistakeCounts(items),
      items,
    },
    images,
    robustness: {
      attack: "pgd",
      attacked: count,
      curve: pgd,
      fgsm: curve(images, predicted, (im) => (im.minEpsilon === null ? null : im.minEpsilon * 1.5)),
      pgd,
      zeroGradients,
      zeroGradientShare: zeroGradients / count,
      minEpsilon: {
        attack: "pgd",
        resolution: 0.005,
        flipped: flipEpsilons.length,
        notFlipped: correct - flipEpsilons.length,
        median: flipEpsilons[Math.floor(flipEpsilons.length / 2)] ?? null,
      },
      warnings: [`${zeroGradients} of ${count} images have an all-zero input gradient: FGSM cannot move them`],
    },
    explanations: explanations ? sampleExplanations(assets, images, items, classes) : null,
    bias: bias ? sampleBias(assets, images, predicted, classNames) : null,
    review: review ? sampleReview(top1, count) : null,
  });
  const dir = await Deno.makeTempDir({ prefix: "report-sample-" });
  await Deno.mkdir(join(dir, "assets"));
  for (const [path, bytes] of assets.files) await Deno.writeFile(join(dir, path), bytes);
  await Deno.writeTextFile(join(dir, "report.json"), JSON.stringify(report, null, 2));
  return { dir, report };
}
