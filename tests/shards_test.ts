/**
 * Sharded audits: the merged report of N shards is the single-machine report (timings aside), for
 * N = 1, 2, 4, 7 and 12 over 10 batches (shards of none, one and two batches, the last batch short);
 * the merge refuses a missing, unfinished or foreign shard in one line; a shard stopped midway and
 * run again resumes from its chunks; shard ranges and `--shard auto` follow their closed forms.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import fc from "fast-check";
import { audit, type AuditOptions, type AuditOutcome, auditShard } from "../pipeline/audit/audit.ts";
import { mergeShards } from "../pipeline/audit/merge.ts";
import { parseShard, shardBatches } from "../pipeline/audit/shards.ts";
import { InputError } from "../pipeline/io/input_error.ts";
import { saveModelFolder } from "../pipeline/model/model_folder.ts";
import type { AuditReport } from "../pipeline/schema/report.ts";
import { bars, linearModel, writeIdx } from "./audit_fixture.ts";
import { gpuTest } from "./gpu_fixture.ts";

const setup = (async () => {
  const dir = await Deno.makeTempDir({ prefix: "shards-" });
  const [model, other] = [join(dir, "model"), join(dir, "other-model")];
  await saveModelFolder(model, linearModel(5, 1, 8, 4));
  await saveModelFolder(other, linearModel(6, 1, 8, 4));
  const groups = join(dir, "groups.csv");
  await Deno.writeTextFile(
    groups,
    "index,group\n" + [...Array(37).keys()].map((i) => `${i},${i % 3 ? "a" : "b"}`).join("\n"),
  );
  return { dir, model, other, groups, data: await writeIdx(dir, "bars", bars(37, 4, 8, 9)) };
})();

/** 37 images in batches of 4: 10 batches, the last of one image; every whole-set stage on. */
const options = async (out: string): Promise<AuditOptions> => {
  const { dir, model, data, groups } = await setup;
  return {
    model,
    data,
    groups,
    out: join(dir, out),
    batchSize: 4,
    epsilons: [0, 0.05, 0.2],
    attackSample: 13,
    pgdSteps: 2,
    shown: 5,
    sanityImages: 2,
    prototypes: 2,
    criticisms: 1,
    featuresPerClass: 4, // the reservoirs sample: each class has about 9 rows
  };
};

const reportOf = (outcome: AuditOutcome): AuditReport => {
  assert.ok(!outcome.stopped);
  return outcome.report;
};
/** The report less what may differ between runs: when it was made and how long each stage took. */
const comparable = ({ createdAt: _c, timings: _t, ...rest }: AuditReport) => rest;

async function runShards(out: string, count: number, changed: (index: number) => Partial<AuditOptions> = () => ({})) {
  for (let index = 0; index < count; index++) {
    const outcome = await auditShard({ ...(await options(out)), ...changed(index) }, { index, count });
    assert.ok(!outcome.stopped);
  }
}

function assertSameAssets(a: string, b: string) {
  const names = [...Deno.readDirSync(join(a, "assets"))].map((e) => e.name).sort();
  assert.deepEqual([...Deno.readDirSync(join(b, "assets"))].map((e) => e.name).sort(), names);
  for (const name of names) {
    assert.deepEqual(Deno.readFileSync(join(b, "assets", name)), Deno.readFileSync(join(a, "assets", name)), name);
  }
}

Deno.test({
  name:
    "shards: the merge of 1, 2, 4, 7 and 12 shards (two of them empty) writes the single-machine report and pictures",
  ...gpuTest,
  async fn() {
    const single = await options("single");
    const expected = comparable(reportOf(await audit(single)));
    assert.ok(
      expected.robustness.attacked === 13 && (expected.bias!.classes[0].groups?.length ?? 0) > 0,
      "every stage ran",
    );
    for (const count of [1, 2, 4, 7, 12]) {
      const out = `merged-${count}`;
      await runShards(out, count);
      const merged = reportOf(await mergeShards({ out: (await options(out)).out! }));
      assert.deepEqual(comparable(merged), expected, `${count} shards`);
      assertSameAssets(single.out!, (await options(out)).out!);
    }
  },
});

Deno.test({
  name:
    "shards: a stopped shard run again resumes from its chunks; the merge refuses a missing, unfinished or foreign shard",
  ...gpuTest,
  async fn() {
    const { other } = await setup;
    const out = (await options("faults")).out!;
    const refusal = async (pattern: RegExp) => {
      await assert.rejects(() => mergeShards({ out }), (e: Error) => {
        assert.ok(e instanceof InputError, String(e));
        assert.ok(!e.message.includes("\n"), e.message);
        assert.match(e.message, pattern);
        return true;
      });
    };
    await refusal(/^.*faults holds no shards/);
    // Shard 1 of 3 stopped after its first batch, then run again with the same options.
    const stop = new AbortController();
    const stopped = await auditShard(await options("faults"), { index: 1, count: 3 }, {
      signal: stop.signal,
      stage: () => ({ update: (done) => done >= 4 && stop.abort(), stop() {} }),
    });
    assert.ok(stopped.stopped && stopped.batchesKept === 1, JSON.stringify(stopped));
    const notices: string[] = [];
    const resumed = await auditShard(await options("faults"), { index: 1, count: 3 }, {
      notice: (line) => notices.push(line),
    });
    assert.ok(!resumed.stopped);
    assert.deepEqual(resumed.record.batches, { first: 3, end: 6 });
    assert.match(notices.join("\n"), /shards\/1: continuing after its 1 finished batches/);
    await refusal(/^shard 0\/3 is missing \(no .*faults\/shards\/0\): run audit --shard 0\/3/);
    // A shard's folder with other settings is started over only with --force.
    await runShards("faults", 3, (index) => (index === 2 ? { model: other, force: true } : {}));
    await refusal(/^shard 2\/3 \(.*shards\/2\) was run with other inputs than the rest: fingerprint\.model /);
    await runShards("faults", 3, (index) => (index === 2 ? { force: true } : {}));
    await Deno.remove(join(out, "shards", "0", "shard.json"));
    await refusal(/^shard 0 \(.*shards\/0\) is not finished: run it again; it resumes from its chunks/);
    await runShards("faults", 3);
    const merged = reportOf(await mergeShards({ out }));
    assert.deepEqual(comparable(merged), comparable(reportOf(await audit({ ...(await options("faults-single")) }))));
  },
});

Deno.test("shards: the batches split into contiguous runs that cover them once, lengths within one", () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 64 }), (
      images,
      batchSize,
      count,
    ) => {
      const batches = Math.ceil(images / batchSize);
      const ranges = Array.from({ length: count }, (_, index) => shardBatches({ index, count }, images, batchSize));
      assert.equal(ranges[0].first, 0);
      assert.equal(ranges[count - 1].end, batches);
      ranges.slice(1).forEach((r, i) => assert.equal(r.first, ranges[i].end));
      const lengths = ranges.map((r) => r.end - r.first);
      assert.ok(Math.max(...lengths) - Math.min(...lengths) <= 1, lengths.join(","));
    }),
  );
});

Deno.test("shards: --shard I/N, and auto from Slurm's or Kubernetes' variables", () => {
  assert.deepEqual(parseShard("3/7", {}), { index: 3, count: 7 });
  const slurm = { SLURM_ARRAY_TASK_ID: "5", SLURM_ARRAY_TASK_MIN: "4", SLURM_ARRAY_TASK_COUNT: "4" };
  assert.deepEqual(parseShard("auto", slurm), { index: 1, count: 4 });
  assert.deepEqual(parseShard("auto", { JOB_COMPLETION_INDEX: "2", JOB_COMPLETIONS: "3" }), { index: 2, count: 3 });
  for (
    const [text, env, message] of [
      ["7/7", {}, /--shard: 7\/7 needs 0 <= I < N <= 10000/],
      ["1-4", {}, /--shard: "1-4" is neither I\/N/],
      ["auto", {}, /neither SLURM_ARRAY_TASK_ID .* nor JOB_COMPLETION_INDEX/],
      ["auto", { JOB_COMPLETION_INDEX: "1" }, /--shard auto: JOB_COMPLETIONS is not set/],
    ] as const
  ) {
    assert.throws(() => parseShard(text, env), (e: Error) => e instanceof InputError && message.test(e.message));
  }
});
