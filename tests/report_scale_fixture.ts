/**
 * A large sample report folder, for tests of how the report scales with the class count: the
 * sample report (report_fixture.ts) carried to `classes` classes (1,000 by default) and
 * `perClass` images each, with bias findings for every class and the pictures an ImageNet audit
 * draws, by the audit's own code (AssetWriter.tile, prototypeGrid, sanityFigure) from 224x224
 * photographs: image `i` is a crop of one of scikit-image's sample photos, placed by `i`. Each
 * class's grid holds 8 prototypes, 4 criticisms and the mean saliency (the first `DRAWN_GRIDS`
 * drawn, the rest their copies, to keep the test fast); `shown` mistakes and
 * adversarial pairs have their image and saliency pictures; the sanity figure has a ResNet-50's
 * cascade (`SANITY_LAYERS` layers, every saliency method). Written as the audit writes it
 * (`writeReport`), so report.json has the audit's size too. The saliency maps are speckled bumps,
 * as gradients are: they make the heaviest JPEGs.
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
import { AssetWriter } from "../pipeline/audit/assets.ts";
import { prototypeGrid } from "../pipeline/bias/prototype_grid.ts";
import { decodeImage } from "../pipeline/data/decode_image.ts";
import { type EncodedPicture, imageTile } from "../pipeline/explain/image_grid.ts";
import { reportedMap } from "../pipeline/explain/reported_map.ts";
import { SALIENCY_METHODS } from "../pipeline/explain/saliency.ts";
import type { SanityReport } from "../pipeline/explain/sanity.ts";
import { sanityFigure } from "../pipeline/explain/sanity_figure.ts";
import { mulberry32 } from "../pipeline/io/prng.ts";
import { writeReport } from "../pipeline/report/report_file.ts";
import { type AuditReport, AuditReportSchema } from "../pipeline/schema/report.ts";
import type { BiasClass } from "../pipeline/schema/bias.ts";
import {
  calibration,
  curve,
  type Image,
  mistakeCounts,
  mistakeItems,
  ranking,
  sampleReportFolder,
} from "./report_fixture.ts";

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
/** The side of every image, as an ImageNet model sees it. */
const SIDE = 224;
const SHAPE: [number, number, number] = [3, SIDE, SIDE];
/**
 * Classes whose grids are drawn; the others' are copies. Drawing takes about 50 ms a grid, a third
 * of it jpeg-js setting up its tables, which it does on every call; 100 drawn grids weigh as 1,000
 * do (23.7 and 23.5 KB on average).
 */
const DRAWN_GRIDS = 100;
/** Layers a ResNet-50's cascading randomisation redraws: its 53 convolutions and the classifier. */
const SANITY_LAYERS = 54;
/** Colour photographs (and one grey) of scikit-image, as Debian's python3-skimage installs them. */
const PHOTO_DIR = "/usr/lib/python3/dist-packages/skimage/data";
const PHOTOS = [
  "astronaut.png",
  "chelsea.png",
  "coffee.png",
  "rocket.jpg",
  "motorcycle_left.png",
  "motorcycle_right.png",
  "ihc.png",
  "camera.png",
];

/** A photograph as a CHW image in [0, 1], grey ones repeated over the three channels. */
interface Photo {
  height: number;
  width: number;
  chw: Float32Array;
}

async function readPhotos(): Promise<Photo[]> {
  return await Promise.all(PHOTOS.map(async (name) => {
    const path = join(PHOTO_DIR, name);
    const { width, height, channels, maxValue, data } = decodeImage(await Deno.readFile(path), path);
    const plane = width * height;
    const chw = new Float32Array(3 * plane);
    for (let q = 0; q < plane; q++) {
      for (let c = 0; c < 3; c++) chw[c * plane + q] = data[q * channels + (channels >= 3 ? c : 0)] / maxValue;
    }
    return { height, width, chw };
  }));
}

/** Image `index`: a 224x224 crop of one of the photos, at a place drawn from the index. */
function photoImage(photos: readonly Photo[], index: number): Float32Array {
  const random = mulberry32(index + 1);
  const photo = photos[index % photos.length];
  const top = Math.floor(random() * (photo.height - SIDE + 1)), left = Math.floor(random() * (photo.width - SIDE + 1));
  const out = new Float32Array(3 * SIDE * SIDE);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < SIDE; y++) {
      const from = c * photo.height * photo.width + (top + y) * photo.width + left;
      out.set(photo.chw.subarray(from, from + SIDE), (c * SIDE + y) * SIDE);
    }
  }
  return out;
}

/** A saliency map as gradients look: a bump at a place drawn from `seed`, speckled pixel by pixel. */
function speckledMap(seed: number): Float32Array {
  const random = mulberry32(seed + 7);
  const row = random() * SIDE, column = random() * SIDE, spread = 2 * (SIDE / 5) ** 2;
  return Float32Array.from(
    { length: SIDE * SIDE },
    (_, q) => Math.exp(-((Math.floor(q / SIDE) - row) ** 2 + (q % SIDE - column) ** 2) / spread) * random(),
  );
}

/** What the large report holds. */
export interface LargeReportOptions {
  classes?: number;
  perClass?: number;
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
    // As the bias stage stores it: reduced to the report's map size.
    meanPrototypeSaliency: reportedMap(speckledMap(label), SIDE, SIDE),
    flagged,
    flaggedGroups: flagged ? ["outdoors"] : [],
    // Two slices a class; the flagged classes' first is found, ranked by its adjusted p (by label).
    slices: [0, 1].map((k) => {
      const found = flagged && k === 0;
      return {
        seed: { ...example(k), kind: "mistake" as const },
        size: 20,
        share: 0.2,
        mistakes: found ? 15 : 2,
        errorRate: found ? 0.75 : 0.1,
        interval: found ? [0.53, 0.89] as [number, number] : [0.03, 0.3] as [number, number],
        rest: { size: 80, mistakes: 4 },
        restErrorRate: 0.05,
        ratio: found ? 15 : 2,
        holdout: { slice: { size: 10, mistakes: found ? 8 : 1 }, rest: { size: 40, mistakes: 2 } },
        pValue: found ? 1e-6 * (1 + label) : 0.4,
        adjustedPValue: found ? 1e-4 * (1 + label) : 1,
        labels: [{ label: (label + 1) % classes, count: 12 }, { label, count: 8 }],
        prototypes: Array.from({ length: 4 }, (_, j) => example(j)),
        found,
      };
    }),
  };
}

/** The report's pictures, drawn by the audit's code from the photo crops and written with its AssetWriter. */
class Pictures {
  constructor(readonly photos: readonly Photo[], readonly assets: AssetWriter) {}

  /** Image `index` (with an attack's perturbation, given `epsilon`) and its saliency overlay. */
  async pair(name: string, index: number, epsilon = 0): Promise<{ image: string; saliency: string }> {
    const pixels = photoImage(this.photos, index);
    if (epsilon > 0) {
      const random = mulberry32(index + 11);
      pixels.forEach((v, q) => (pixels[q] = Math.min(1, Math.max(0, v + (random() < 0.5 ? -epsilon : epsilon)))));
    }
    return {
      image: await this.assets.tile(name, imageTile(pixels, SHAPE)),
      saliency: await this.assets.overlay(`${name}-saliency`, speckledMap(index), SHAPE[1], SHAPE[2]),
    };
  }

  readonly #grids = new Map<number, EncodedPicture>();

  /**
   * The class's grid of prototypes, criticisms and mean saliency, as the bias audit draws it; from
   * label `DRAWN_GRIDS` on, a copy of the grid of `label mod DRAWN_GRIDS`. The map draws the
   * picture only; report.json holds none (at 224x224 it is 50,176 numbers, about 1 MB of JSON a class).
   */
  async grid(entry: BiasClass): Promise<string> {
    const drawn = this.#grids.get(entry.label % DRAWN_GRIDS);
    if (drawn) return await this.assets.picture(`bias-${entry.label}`, drawn);
    const images = (indices: number[]) => {
      const out = new Float32Array(indices.length * SIDE * SIDE * 3);
      indices.forEach((index, i) => out.set(photoImage(this.photos, index), i * SIDE * SIDE * 3));
      return Promise.resolve(out);
    };
    const grid = await prototypeGrid([entry], images, SHAPE, {
      saliency: true,
    });
    this.#grids.set(entry.label, grid);
    return await this.assets.picture(`bias-${entry.label}`, grid);
  }

  /** The sanity section of a ResNet-50's cascade: every method, `SANITY_LAYERS` layers, on image 0. */
  async sanity(): Promise<NonNullable<Explanations["sanity"]>> {
    const layers = Array.from({ length: SANITY_LAYERS }, (_, k) => (k === 0 ? "fc" : `conv${SANITY_LAYERS - k}`));
    const stages = [null, ...layers];
    const report: SanityReport = {
      layers,
      methods: SALIENCY_METHODS.map((method, m) => ({
        method,
        stages: stages.map((layer, s) => ({
          layer,
          spearman: s === 0 ? 1 : 0.8 / (1 + s + m),
          perImage: [s === 0 ? 1 : 0.8 / (1 + s + m)],
          maps: speckledMap(1000 * m + s),
        })),
      })),
    };
    return {
      images: 1,
      layers,
      methods: report.methods.map((m) => ({
        method: m.method,
        stages: m.stages.map(({ layer, spearman }) => ({ layer, spearman })),
      })),
      figure: await this.assets.picture("sanity", sanityFigure(report, photoImage(this.photos, 0), SHAPE)),
    };
  }
}

/** `shown` explained mistakes (the most confident) and adversarial pairs, and the sanity checks. */
async function explanations(
  base: AuditReport,
  pictures: Pictures,
  items: Mistake[],
  images: Image[],
  shown: number,
): Promise<Explanations> {
  const mistakes = [];
  for (const m of [...items].sort((a, b) => b.confidence - a.confidence).slice(0, shown)) {
    const { index, label, predicted, confidence } = m;
    mistakes.push({ index, label, predicted, confidence, ...(await pictures.pair(`mistake-${index}`, index)) });
  }
  const adversarial = [];
  for (const im of images.filter((im) => im.top[0] === im.label).slice(0, shown)) {
    adversarial.push({
      index: im.index,
      label: im.label,
      attack: "pgd" as const,
      epsilon: 0.05,
      clean: {
        predicted: im.label,
        confidence: im.confidence,
        ...(await pictures.pair(`adversarial-${im.index}-clean`, im.index)),
      },
      adversarial: {
        predicted: im.top[1],
        confidence: 0.5,
        ...(await pictures.pair(`adversarial-${im.index}-adversarial`, im.index, 0.05)),
      },
    });
  }
  return { ...base.explanations!, mistakes, adversarial, sanity: await pictures.sanity() };
}

/**
 * Writes the large report folder (report.json, assets/) in a fresh temporary folder.
 *
 * @example
 * ```ts
 * const { dir, report } = await largeReportFolder({ classes: 100 });
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function largeReportFolder(
  options: LargeReportOptions = {},
): Promise<{ dir: string; report: AuditReport }> {
  const { classes = 1000, perClass = 5, shown: show = 16 } = options;
  if (classes % 2 !== 0 || classes < 2 * HOT_LABELS) {
    throw new Error(`large report: ${classes} classes, not even or too few`);
  }
  const names = largeClassNames(classes);
  const { dir, report: base } = await sampleReportFolder();
  // Only what this report names: the sample's own assets go.
  await Deno.remove(join(dir, "assets"), { recursive: true });
  const pictures = new Pictures(await readPhotos(), new AssetWriter(dir));
  const { images: shown, predicted } = images(classes, perClass);
  const count = shown.length;
  const items = mistakeItems(shown, predicted, classes);
  const confusion = names.map(() => new Array<number>(classes).fill(0));
  for (const im of shown) confusion[im.label][predicted[im.index]]++;
  const pool = names.map((_, c) => confusion.reduce((s, row) => s + row[c], 0));
  const { ece, table } = calibration(shown, predicted);
  const pgd = curve(shown, predicted, () => null);
  const correct = count - items.length;
  const biasClasses = names.map((name, label) => biasClass(label, name, classes, count, pool[label]));
  for (const entry of biasClasses) {
    entry.grid = await pictures.grid(entry);
    // Slice pictures are grids of the same size: the class's own stands in for them.
    for (const slice of entry.slices ?? []) slice.grid = entry.grid;
  }
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
      counts: mistakeCounts(items),
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
    explanations: await explanations(base, pictures, items, shown, show),
    bias: {
      settings: {
        ...base.bias!.settings,
        prototypes: PROTOTYPES,
        criticisms: CRITICISMS,
        comparisons: classes * 2,
        slices: { seeds: 32, minSize: 5, minShare: 0.05, maxPerClass: 2, comparisons: classes * 2 },
      },
      classes: biasClasses,
    },
  });
  await writeReport(dir, report, { force: true });
  return { dir, report };
}
