/**
 * The bias stage's bounded feature store: its plan against hand-computed ImageNet figures, its
 * reservoir against an independent bottom-k sample (and the same rows in any order), rows spilled to disk read back bit for bit with
 * the rows held in memory never over the budget, and an audit whose rows spill (interrupted and
 * resumed, too) reporting the same bias findings as one that holds them all.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import fc from "fast-check";
import { pathExists } from "../pipeline/io/files.ts";
import { audit, type AuditOptions } from "../pipeline/audit/audit.ts";
import type { ImagePrediction } from "../pipeline/audit/evaluate.ts";
import { isSpillFile } from "../pipeline/audit/feature_spill.ts";
import { describeFeaturePlan, FeatureStore, planFeatures } from "../pipeline/audit/feature_store.ts";
import { featureRows } from "../pipeline/explain/features.ts";
import { mulberry32, seededPermutation } from "../pipeline/io/prng.ts";
import { saveModelFolder } from "../pipeline/model/model_folder.ts";
import type { AuditReport } from "../pipeline/schema/report.ts";
import { bars, linearModel, writeIdx } from "./audit_fixture.ts";
import { gpuTest } from "./gpu_fixture.ts";

const MIB = 2 ** 20;

Deno.test("feature plan: ImageNet's validation set with a ResNet-50 fits 1 GiB; its worst case is 16 GB and spills", () => {
  const sizes = { classes: 1000, width: 2048, rowsPerClass: 2048, budgetBytes: 1024 * MIB, picks: 12 };
  const val = planFeatures({ ...sizes, images: 50_000 });
  assert.equal(val.rows, 50_000);
  assert.equal(val.bytes, 50_000 * 8192); // 2,048 floats of 4 bytes a row
  assert.equal(val.spills, false);
  // width x (rows x (K + min(K, 1000) + 2 + picks) + picks x classes), by hand:
  // 2048 x (50,000 x 3,062 + 12,000) = 2048 x 153,112,000
  assert.equal(val.multiplyAdds, 313_573_376_000);
  assert.equal(
    describeFeaturePlan(val),
    "bias stage: <= 2048 feature rows per class x 1000 classes x 2048 wide, <= 50000 rows = 391 MiB " +
      "(budget 1024 MiB: held in memory); MMD-critic <= 314 G multiply-adds",
  );
  // Every class full: 1,000 x 2,048 rows x 8 KiB = 16,777,216,000 bytes.
  const full = planFeatures({ ...sizes, images: 5_000_000 });
  assert.equal(full.rows, 2_048_000);
  assert.equal(full.bytes, 16_777_216_000);
  assert.equal(full.spills, true);
  // 2048 x (2,048,000 x 3,062 + 12,000) = 1.2843e13
  assert.match(
    describeFeaturePlan(full),
    /= 16000 MiB \(budget 1024 MiB: rows beyond it go to disk\); MMD-critic <= 12\.8 T multiply-adds$/,
  );
});

/** Synthetic predictions over `classes` classes, unevenly (class c about twice as often as c + 1). */
function predictionsOf(count: number, classes: number, seed: number): ImagePrediction[] {
  const random = mulberry32(seed);
  return Array.from({ length: count }, (_, index) => {
    const top = Math.min(classes - 1, Math.floor(-Math.log2(1 - random())));
    return { index, label: (top + index) % classes, top: [top], probs: [1] };
  });
}

/** Row r's features, from r alone: what any store must give back for it. */
const rowFeatures = (r: number, width: number) =>
  Float32Array.from({ length: width }, (_, k) => r + k / 8 - 0.3 * k * k);

/**
 * Bottom-k per class, computed apart from the store: each row's priority is its example index's
 * draw of one mulberry32 stream read in order, seeded as the store seeds it; a class keeps its
 * `capacity` rows of lowest (priority, index).
 */
function reservoirReference(predictions: ImagePrediction[], capacity: number, seed: number): Map<number, number[]> {
  const random = mulberry32((seed ^ 0xfea7) >>> 0);
  const stream = Array.from({ length: Math.max(...predictions.map((p) => p.index)) + 1 }, () => random());
  const pools = new Map<number, number[]>();
  predictions.forEach((p, row) => pools.set(p.top[0], [...(pools.get(p.top[0]) ?? []), row]));
  const rank = (row: number) => [stream[predictions[row].index], predictions[row].index];
  return new Map(
    [...pools].map(([c, rows]) => {
      const sorted = [...rows].sort((a, b) => rank(a)[0] - rank(b)[0] || rank(a)[1] - rank(b)[1]);
      return [c, sorted.slice(0, capacity).sort((a, b) => a - b)];
    }),
  );
}

/** Feeds the predictions and their rows to a store in batches of `batch`. */
async function fill(store: FeatureStore, predictions: ImagePrediction[], width: number, batch: number) {
  for (let start = 0; start < predictions.length; start += batch) {
    const part = predictions.slice(start, start + batch);
    const rows = new Float32Array(part.length * width);
    part.forEach((p, i) => rows.set(rowFeatures(p.index, width), i * width));
    await store.add(rows, part);
  }
  return store.finish(predictions);
}

Deno.test("feature store: the reservoir keeps the bottom-k rows; spilled rows read back exactly, memory within the budget", async () => {
  const [count, classes, width, capacity, seed] = [600, 6, 5, 16, 3];
  const predictions = predictionsOf(count, classes, 11);
  const expected = reservoirReference(predictions, capacity, seed);
  const keptRows = [...expected.values()].reduce((n, rows) => n + rows.length, 0);
  const sizes = { classes, width, rowsPerClass: capacity, images: count, picks: 12 };
  const dir = await Deno.makeTempDir({ prefix: "feature-store-" });

  const budgets = [MIB, 7 * width * 4, 7 * width * 4 + 3, width * 4]; // all held; 7 rows; 7 rows and change; 1 row
  for (const budgetBytes of budgets) {
    for (const batch of [1, 64]) {
      const plan = planFeatures({ ...sizes, budgetBytes });
      const store = new FeatureStore(plan, "flat", seed, dir);
      const table = await fill(store, predictions, width, batch);
      const at = `budget ${budgetBytes}, batches of ${batch}`;
      for (const [c, rows] of expected) {
        const pool = predictions.flatMap((p, row) => (p.top[0] === c ? [row] : []));
        assert.deepEqual(pool.filter((r) => table.slots[r] >= 0), rows, `class ${c}'s kept rows, ${at}`);
        const want = new Float32Array(rows.length * width);
        rows.forEach((r, i) => want.set(rowFeatures(r, width), i * width));
        assert.deepEqual(await featureRows(table, rows), want, `class ${c}'s features, ${at}`);
      }
      const stored = store.stored;
      assert.equal(stored.keptRows, keptRows, at);
      assert.equal(stored.spilled, plan.spills, at);
      assert.equal(stored.spilled, budgetBytes < keptRows * width * 4, at);
      if (!stored.spilled) assert.equal(stored.peakHeldBytes, keptRows * width * 4, at);
      else assert.ok(stored.peakHeldBytes <= budgetBytes, `${at}: ${stored.peakHeldBytes} bytes held at most`);
    }
  }
  const segments = [...Deno.readDirSync(dir)].map((e) => e.name);
  assert.ok(segments.length > 1 && segments.every(isSpillFile), segments.join(", "));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("feature store: the kept rows are the same in any order the rows come (so shards' samples merge exactly)", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 300 }),
      fc.integer({ min: 1, max: 5 }),
      fc.integer({ min: 2, max: 12 }),
      fc.integer({ min: 0, max: 2 ** 32 - 1 }),
      fc.integer({ min: 0, max: 2 ** 31 }),
      async (count, classes, capacity, seed, shuffle) => {
        const predictions = predictionsOf(count, classes, seed % 1000);
        const order = Array.from(seededPermutation(count, shuffle), (i) => predictions[i]);
        const plan = planFeatures({
          classes,
          width: 2,
          rowsPerClass: capacity,
          images: count,
          budgetBytes: MIB,
          picks: 2,
        });
        const keptIndices = async (fed: ImagePrediction[]) => {
          const table = await fill(new FeatureStore(plan, "flat", seed, null), fed, 2, 7);
          return fed.filter((_, row) => table.slots[row] >= 0).map((p) => p.index).sort((a, b) => a - b);
        };
        const expected = [...reservoirReference(predictions, capacity, seed).values()].flat().sort((a, b) => a - b);
        assert.deepEqual(await keptIndices(predictions), expected);
        assert.deepEqual(await keptIndices(order), expected);
      },
    ),
    { numRuns: 60 },
  );
});

/** A linear model on 8x8 bars (no training needed) and 48 images as IDX. */
const setup = (async () => {
  const dir = await Deno.makeTempDir({ prefix: "feature-store-audit-" });
  const model = join(dir, "model");
  await saveModelFolder(model, linearModel(5, 1, 8, 4));
  return { dir, model, data: await writeIdx(dir, "bars", bars(48, 4, 8, 9)) };
})();

Deno.test({
  name: "audit: a budget that spills, interrupted and resumed too, reports the bias findings of one that does not",
  ...gpuTest,
  async fn() {
    const { dir, model, data } = await setup;
    const base: AuditOptions = {
      model,
      data,
      batchSize: 4,
      epsilons: [0, 0.1],
      attackSample: 4,
      pgdSteps: 1,
      skipMinEpsilon: true,
      saliency: "none",
      prototypes: 2,
      criticisms: 1,
      featuresPerClass: 5, // 48 images of 4 classes: the reservoirs sample, and MMD-critic picks 3 of 5
    };
    const run = async (name: string, options: AuditOptions, stopAfter?: number) => {
      const notices: string[] = [];
      const stop = new AbortController();
      const outcome = await audit({ ...base, ...options, out: join(dir, name) }, {
        notice: (line) => notices.push(line),
        signal: stop.signal,
        stage: () => ({ update: (done) => done >= (stopAfter ?? Infinity) && stop.abort(), stop() {} }),
      });
      return { outcome, notices };
    };
    const reportOf = (outcome: Awaited<ReturnType<typeof run>>["outcome"]): AuditReport => {
      assert.ok(!outcome.stopped);
      return outcome.report;
    };
    const bias = (outcome: Awaited<ReturnType<typeof run>>["outcome"]) => reportOf(outcome).bias!;

    const held = await run("held", {});
    const heldBias = bias(held.outcome);
    assert.match(
      held.notices.join("\n"),
      /<= 5 feature rows per class x 4 classes x 64 wide, <= 20 rows .*held in memory/,
    );
    assert.deepEqual(
      { ...heldBias.settings.featureStore, multiplyAddsBound: 0 },
      {
        rowsPerClass: 5,
        featureWidth: 64,
        classes: 4,
        maxRows: 20,
        maxMb: 20 * 64 * 4 / MIB,
        budgetMb: 1024,
        spilled: false,
        keptRows: heldBias.classes.reduce((n, c) => n + Math.min(c.poolSize, 5), 0),
        peakHeldMb: heldBias.classes.reduce((n, c) => n + Math.min(c.poolSize, 5), 0) * 64 * 4 / MIB,
        multiplyAddsBound: 0,
      },
    );

    const budget = { featureBudgetMb: (3 * 64 * 4) / MIB }; // three rows
    const spilled = await run("spilled", budget);
    const spilledBias = bias(spilled.outcome);
    assert.match(spilled.notices.join("\n"), /budget 0\.000732 MiB: rows beyond it go to disk/);
    assert.equal(spilledBias.settings.featureStore!.spilled, true);
    assert.ok(spilledBias.settings.featureStore!.peakHeldMb <= budget.featureBudgetMb);
    assert.deepEqual(spilledBias.classes, heldBias.classes);
    const page = await Deno.readTextFile(join(dir, "spilled", "index.html"));
    assert.match(page, /Feature rows: at most 5 per class × 4 classes ×\s+64 wide, 20 rows/);
    assert.match(page, /budget 0\.000732 MiB, the rest on disk\)/);
    assert.ok(!(await pathExists(join(dir, "spilled", "partial"))), "spilled rows removed with the chunks");

    // Stopped after 8 of 12 batches, with rows on disk; resumed with the same budget.
    const stopped = await run("resumed", budget, 32);
    assert.ok(stopped.outcome.stopped && stopped.outcome.batchesKept === 8, JSON.stringify(stopped.outcome));
    const left = [...Deno.readDirSync(join(dir, "resumed", "partial"))].map((e) => e.name);
    assert.ok(left.some(isSpillFile), `spilled rows kept with the chunks: ${left.join(", ")}`);
    const resumed = await run("resumed", { ...budget, resume: true });
    assert.deepEqual(bias(resumed.outcome), spilledBias);
    assert.ok(reportOf(resumed.outcome).timings.resumed > 0, "the kept batches were replayed");
    assert.ok(!(await pathExists(join(dir, "resumed", "partial"))), "spilled rows removed once reported");
  },
});
