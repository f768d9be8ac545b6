// Measures the audit's feature store (pipeline/audit/feature_store.ts) at ImageNet sizes with
// synthetic rows: the process's peak resident memory while the batch pass fills it and while the
// bias stage reads it back one class at a time, the bytes it wrote to disk, and the times.
// Predictions are spread evenly over the classes (the worst case for a store's size).
// Run: deno run -A bench/feature_store_memory.ts [IMAGES] [BUDGET_MB] [CLASSES] [WIDTH] [ROWS_PER_CLASS]
//      e.g. 50000 1024 (ImageNet's validation set, held), 50000 64 (the same, spilled)
import type { ImagePrediction } from "../pipeline/audit/evaluate.ts";
import { describeFeaturePlan, FeatureStore, planFeatures } from "../pipeline/audit/feature_store.ts";
import { featureRows } from "../pipeline/explain/features.ts";
import { mulberry32 } from "../pipeline/io/prng.ts";

const [images, budgetMb, classes, width, rowsPerClass] = [50_000, 1024, 1000, 2048, 2048].map((fallback, i) =>
  Deno.args[i] === undefined ? fallback : Number(Deno.args[i])
);
const MIB = 2 ** 20;
const plan = planFeatures({ classes, width, rowsPerClass, images, budgetBytes: budgetMb * MIB, picks: 12 });
console.log(describeFeaturePlan(plan));

const dir = await Deno.makeTempDir({ prefix: "feature-store-bench-" });
let peak = Deno.memoryUsage().rss;
const baseline = peak;
const sample = () => (peak = Math.max(peak, Deno.memoryUsage().rss));

const store = new FeatureStore(plan, "features", 1, dir);
const random = mulberry32(7);
const batch = 64;
const predictions: ImagePrediction[] = [];
const t0 = performance.now();
for (let start = 0; start < images; start += batch) {
  const part: ImagePrediction[] = [];
  for (let i = start; i < Math.min(images, start + batch); i++) {
    part.push({ index: i, label: i % classes, top: [i % classes], probs: [1] });
  }
  const rows = Float32Array.from({ length: part.length * width }, () => random());
  await store.add(rows, part);
  predictions.push(...part);
  sample();
}
const table = store.finish(predictions);
const filled = (performance.now() - t0) / 1000;
const filledPeak = peak;

const pools = Array.from({ length: classes }, () => [] as number[]);
table.predicted.forEach((c, row) => table.slots[row] >= 0 && pools[c].push(row));
const t1 = performance.now();
for (const pool of pools) {
  await featureRows(table, pool);
  sample();
}
const read = (performance.now() - t1) / 1000;

let disk = 0;
for (const entry of Deno.readDirSync(dir)) disk += Deno.statSync(`${dir}/${entry.name}`).size;
await Deno.remove(dir, { recursive: true });
const stored = store.stored;
const mib = (bytes: number) => `${(bytes / MIB).toFixed(0)} MiB`;
console.log(
  [
    `rows kept ${stored.keptRows}, spilled ${stored.spilled}, feature rows held at most ${mib(stored.peakHeldBytes)}`,
    `resident memory: ${mib(baseline)} at the start, peak ${mib(filledPeak)} filling (+${
      mib(filledPeak - baseline)
    }), peak ${mib(peak)} reading classes back`,
    `on disk ${mib(disk)}; fill ${filled.toFixed(1)} s (${(images / filled).toFixed(0)} rows/s), ` +
    `read ${classes} classes ${read.toFixed(1)} s`,
  ].join("\n"),
);
