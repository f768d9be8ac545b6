/**
 * The bias stage: per predicted class, MMD-critic prototypes and criticisms in the model's own
 * feature space, the mean saliency of the prototypes, and with group metadata the group shares,
 * the rates at which each group is predicted into the class and its accuracy on the class, a kernel
 * two-sample test between the groups' features inside the class, and the `flagged` verdict.
 *
 * A flag: some group's images of other labels are predicted into the class at >= `rateRatio`
 * (default 3) times the other groups' rate (Mantel-Haenszel, stratified by true label) with the
 * exact CMH test's p < `alpha` (default 0.01) after Holm's adjustment, or its images of the class
 * are missed at >= `rateRatio` times the rest's error rate with the same significance. The family
 * adjusted over is every group test of every class, both ways, and every MMD test. `flagged`: a flag
 * that is no mirror of another (group_flags.ts). The MMD test is reported beside it (it asks whether
 * the model represents the groups differently inside the class, not whether it pulls one group in).
 *
 * @example
 * ```ts
 * import { collectFeatures } from "../explain/features.ts";
 * import type { Executor } from "../model/executor.ts";
 * import type { DataSource } from "../data/types.ts";
 * import type { Manifest } from "../model/manifest.ts";
 * import type { Groups } from "./groups.ts";
 * declare const exec: Executor, manifest: Manifest, source: DataSource, groups: Groups;
 * const table = await collectFeatures(exec, source.examples());
 * const bias = await runBiasStage(exec.gpu, { table, classNames: manifest.classes, groups });
 * console.log(bias.classes.filter((c) => c.flagged).map((c) => c.name));
 * ```
 */
import type { Gpu } from "../../kernels/gpu.ts";
import type { Executor } from "../model/executor.ts";
import { featureRows, type FeatureTable } from "../explain/features.ts";
import { computeSaliency, type SaliencyOptions } from "../explain/saliency.ts";
import { reportedMap } from "../explain/reported_map.ts";
import { confusionByGroup, type GroupConfusion, groupFindings, type RawGroupFinding } from "./group_rates.ts";
import { groupFlags } from "./group_flags.ts";
import { holmAdjust } from "./holm.ts";
import { classSlices, judgeSlices, sliceWorkBound } from "./class_slices.ts";
import type { Groups } from "./groups.ts";
import { mmdTest, subsampleRows } from "./mmd.ts";
import { mmdCritic } from "./mmd_critic.ts";
import type { BiasClass, BiasReport, MmdFindingReport } from "../schema/bias.ts";

export interface BiasOptions {
  /** Prototypes and criticisms per class (defaults 8 and 4). */
  prototypes?: number;
  criticisms?: number;
  /** Permutations of each MMD test (default 1000). */
  permutations?: number;
  /** Significance level after Holm's adjustment (default 0.01). */
  alpha?: number;
  /** Rate ratio a group must reach to flag a class (default 3). */
  rateRatio?: number;
  /** Groups with fewer images in a class are not MMD-tested there (default 5). */
  minGroupSize?: number;
  /** Rows per side of an MMD test, a seeded subsample beyond it (default 1000). */
  maxTestRows?: number;
  /** Classes to analyse (default all). */
  classes?: number[];
  seed?: number;
  /** GPU bytes per Gram block. */
  memoryBudget?: number;
  /** Slice search without group labels (slices.ts); `false` skips it. Defaults: 32 seeds, 5 rows, 3 per class, 5% share. */
  slices?: false | { seeds?: number; minSize?: number; maxPerClass?: number; minShare?: number };
}

export interface BiasInput {
  table: FeatureTable;
  classNames: string[];
  groups?: Groups;
  /** With a model and the images, each class gets the mean saliency map of its prototypes. */
  saliency?: {
    exec: Executor;
    /** NCHW images of the given example indices, in that order. */
    images(indices: number[]): Promise<Float32Array>;
    options?: Omit<SaliencyOptions, "targets">;
  };
}

/** The rows at `positions` of a [rows, width] matrix, in that order. */
function pickRows(matrix: Float32Array, width: number, positions: number[]): Float32Array {
  const out = new Float32Array(positions.length * width);
  positions.forEach((p, i) => out.set(matrix.subarray(p * width, (p + 1) * width), i * width));
  return out;
}

type Settings = BiasReport["settings"];

/** Runs the bias stage over a feature table (rows = audited images). */
export async function runBiasStage(gpu: Gpu, input: BiasInput, options: BiasOptions = {}): Promise<BiasReport> {
  const { table, classNames, groups } = input;
  const labels = options.classes ?? classNames.map((_, c) => c);
  const confusion = groups ? confusionByGroup(table, groups, classNames.length) : null;
  const settings: Settings = {
    featureNode: table.node,
    prototypes: options.prototypes ?? 8,
    criticisms: options.criticisms ?? 4,
    permutations: options.permutations ?? 1000,
    alpha: options.alpha ?? 0.01,
    rateRatio: options.rateRatio ?? 3,
    significance: "one-sided exact CMH test stratified by true label (into the class) and one-sided Fisher exact " +
      "test (accuracy on the class), Holm-adjusted with the MMD tests; mirrors of another flag explained, not flagged",
    comparisons: 0,
    correction: "holm",
    seed: options.seed ?? 0,
  };
  if (options.slices !== false) {
    const o = options.slices ?? {};
    settings.slices = {
      seeds: o.seeds ?? 32,
      minSize: o.minSize ?? 5,
      minShare: o.minShare ?? 0.05,
      maxPerClass: o.maxPerClass ?? 3,
      comparisons: 0,
    };
  }
  const pools = new Map<number, number[]>(labels.map((c) => [c, []]));
  table.predicted.forEach((p, row) => pools.get(p)?.push(row));
  const found: { entry: BiasClass; raw?: RawGroupFinding[] }[] = [];
  for (const label of labels) {
    found.push(await classFinding(gpu, input, { options, settings, confusion }, label, pools.get(label)!));
  }
  const classes = found.map((f) => f.entry);
  if (confusion) settings.comparisons = adjustFamily(found, classNames, confusion, settings);
  if (settings.slices) {
    settings.slices.comparisons = judgeSlices(classes, { ...settings.slices, ...settings });
    settings.slices.multiplyAddsBound = sliceWorkBound({
      rows: table.slots.filter((s) => s >= 0).length,
      classes: labels.length,
      width: table.width,
      seeds: settings.slices.seeds,
      maxSlices: settings.slices.maxPerClass,
    });
  }
  return { settings, classes };
}

/**
 * Holm over the family of every group test (both ways) and MMD test, then the flags with their
 * mirror diagnoses. Returns the family's size.
 */
function adjustFamily(
  found: { entry: BiasClass; raw?: RawGroupFinding[] }[],
  classNames: string[],
  confusion: GroupConfusion,
  settings: Settings,
): number {
  const family: number[] = [];
  for (const { entry, raw } of found) {
    for (const g of raw ?? []) family.push(g.pValue, g.accuracyPValue!);
    for (const m of entry.mmd ?? []) family.push(m.pValue);
  }
  const adjusted = holmAdjust(family);
  let at = 0;
  const byLabel: BiasClass["groups"][] = classNames.map(() => undefined);
  for (const { entry, raw } of found) {
    entry.groups = raw?.map((g) => ({ ...g, adjustedPValue: adjusted[at++], accuracyAdjustedPValue: adjusted[at++] }));
    for (const m of entry.mmd ?? []) m.adjustedPValue = adjusted[at++];
    byLabel[entry.label] = entry.groups;
  }
  const flags = groupFlags(byLabel, confusion, { names: classNames, ...settings });
  for (const { entry } of found) {
    entry.flags = flags[entry.label];
    const own = entry.flags.filter((f) => f.mirrorOf.length === 0);
    entry.flaggedGroups = [...new Set(own.map((f) => f.group))];
    entry.flagged = own.length > 0;
  }
  return family.length;
}

/** Everything the report says about one class, whose predicted images are the table rows `pool`. */
async function classFinding(
  gpu: Gpu,
  input: BiasInput,
  run: { options: BiasOptions; settings: Settings; confusion: GroupConfusion | null },
  label: number,
  pool: number[],
): Promise<{ entry: BiasClass; raw?: RawGroupFinding[] }> {
  const { table, classNames, groups } = input;
  const { options, settings, confusion } = run;
  const groupOf = (row: number) => groups?.get(table.indices[row]);
  const example = (row: number) => ({ index: table.indices[row], label: table.labels[row], group: groupOf(row) });
  const criticOptions = { ...settings, memoryBudget: options.memoryBudget };
  // A bounded feature store keeps a sample of each class's pool: MMD-critic and the tests see that.
  // Its rows are read once per class (the store may hold them on disk).
  const sampled = pool.filter((r) => table.slots[r] >= 0);
  const features = await featureRows(table, sampled);
  const critic = sampled.length > 0 ? await mmdCritic(gpu, features, table.width, criticOptions) : null;
  const prototypeRows = critic?.prototypes.map((p) => sampled[p]) ?? [];
  const entry: BiasClass = {
    label,
    name: classNames[label],
    poolSize: pool.length,
    sigma: critic?.sigma ?? null,
    prototypes: prototypeRows.map(example),
    criticisms: (critic?.criticisms ?? []).map((c, i) => ({
      ...example(sampled[c]),
      witness: critic!.criticismWitness[i],
    })),
    flagged: false,
    flaggedGroups: [],
  };
  if (critic && settings.slices) {
    entry.slices = await classSlices(gpu, {
      features,
      width: table.width,
      rows: sampled,
      labels: table.labels,
      indices: table.indices,
      label,
      criticisms: critic.criticisms,
      sigma: critic.sigma,
      group: groups ? groupOf : undefined,
    }, {
      seeds: settings.slices.seeds,
      minSize: settings.slices.minSize,
      maxSlices: settings.slices.maxPerClass,
      seed: settings.seed,
      memoryBudget: options.memoryBudget,
    });
  }
  if (input.saliency && prototypeRows.length > 0) {
    const indices = prototypeRows.map((r) => table.indices[r]);
    entry.meanPrototypeSaliency = await meanSaliency(input.saliency, indices, label);
  }
  if (!confusion) return { entry };
  const raw = groupFindings(confusion, label, {
    classes: classNames.length,
    pool: pool.map(groupOf),
    prototypes: prototypeRows.map(groupOf),
  });
  entry.mmd = await groupTests(gpu, { rows: sampled, features, width: table.width }, groupOf, options, settings);
  return { entry, raw };
}

/**
 * MMD tests between groups' features inside a class: the two groups when exactly two are large
 * enough, else each large-enough group against the pool's other grouped images. `pool` holds the
 * class's table rows with their features (row i of `features` is `rows[i]`'s).
 */
async function groupTests(
  gpu: Gpu,
  pool: { rows: number[]; features: Float32Array; width: number },
  groupOf: (row: number) => string | undefined,
  options: BiasOptions,
  settings: { permutations: number; seed: number },
): Promise<MmdFindingReport[]> {
  // Positions in the pool, by group.
  const byGroup = new Map<string, number[]>();
  pool.rows.forEach((row, p) => {
    const g = groupOf(row);
    if (g === undefined) return;
    if (!byGroup.has(g)) byGroup.set(g, []);
    byGroup.get(g)!.push(p);
  });
  const grouped = [...byGroup.values()].flat().sort((a, b) => a - b);
  const minimum = Math.max(2, options.minGroupSize ?? 5);
  const large = [...byGroup.keys()].sort().filter((g) => byGroup.get(g)!.length >= minimum);
  const pairs: [string, number[], string, number[]][] = large.length === 2
    ? [[large[0], byGroup.get(large[0])!, large[1], byGroup.get(large[1])!]]
    : large.map((g) => [g, byGroup.get(g)!, "rest", grouped.filter((p) => groupOf(pool.rows[p]) !== g)]);
  const cap = options.maxTestRows ?? 1000;
  const { width } = pool;
  const results: MmdFindingReport[] = [];
  for (const [a, positionsA, b, positionsB] of pairs) {
    if (positionsB.length < minimum) continue;
    const x = subsampleRows(pickRows(pool.features, width, positionsA), width, cap, settings.seed);
    const y = subsampleRows(pickRows(pool.features, width, positionsB), width, cap, settings.seed + 1);
    const test = await mmdTest(gpu, x, y, width, { ...settings, memoryBudget: options.memoryBudget });
    results.push({
      groups: [a, b],
      sizes: test.sizes,
      biased: test.biased,
      unbiased: Number.isNaN(test.unbiased) ? null : test.unbiased,
      sigma: test.sigma,
      pValue: test.pValue,
      permutations: test.permutations,
    });
  }
  return results;
}

/** The mean over the prototypes of their saliency maps for the class's logit, as the report keeps it, and its peak. */
async function meanSaliency(
  saliency: NonNullable<BiasInput["saliency"]>,
  indices: number[],
  label: number,
): Promise<NonNullable<BiasClass["meanPrototypeSaliency"]>> {
  const images = await saliency.images(indices);
  const method = saliency.options?.method ?? "gradient";
  const result = await computeSaliency(saliency.exec, images, indices.length, {
    ...saliency.options,
    method,
    targets: indices.map(() => label),
  });
  const [count, height, width] = result.shape;
  const plane = height * width;
  const mean = new Array<number>(plane).fill(0);
  for (let b = 0; b < count; b++) for (let q = 0; q < plane; q++) mean[q] += result.maps[b * plane + q] / count;
  return reportedMap(mean, height, width);
}
