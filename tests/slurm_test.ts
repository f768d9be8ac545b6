/**
 * The Slurm scripts on a real scheduler: a one-node CPU-only cluster on this machine
 * (deploy/slurm/local-cluster.sh starts it when it is not running; .ci/run installs slurm-wlm and
 * munge, so a machine without them fails here rather than skipping). deploy/slurm/submit.sh queues
 * 4 shards and the merge; the merged report must be the single-machine report. Then the faults: a
 * shard task cancelled midway and requeued resumes from its chunks and the report is unchanged; a
 * missing shard folder and a shard run with another model make the merge job fail with one line.
 * The scripts run without GPU gres here (--gres=none) and with one CPU per task.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { pathExists } from "../pipeline/io/files.ts";
import { runCli, waitForFile } from "./cli_helpers.ts";

const ROOT = new URL("..", import.meta.url).pathname;
/** 240 MNIST images in batches of 16: 15 batches, shards of 3 or 4. */
const FLAGS = ["--limit", "240", "--batch-size", "16", "--pgd-steps", "3", "--attack-sample", "48"];

async function sh(command: string, args: string[], env: Record<string, string> = {}) {
  const output = await new Deno.Command(command, { args, cwd: ROOT, env, stdout: "piped", stderr: "piped" })
    .output();
  const decoder = new TextDecoder();
  return { code: output.code, stdout: decoder.decode(output.stdout).trim(), stderr: decoder.decode(output.stderr) };
}

/** Runs a command that must succeed; its stdout. */
async function ok(command: string, args: string[], env: Record<string, string> = {}): Promise<string> {
  const result = await sh(command, args, env);
  assert.equal(result.code, 0, `${command} ${args.join(" ")}: ${result.stderr}`);
  return result.stdout;
}

/** Jobs this test submitted: cancelled at its end, so a failure leaves none queued. */
const submitted: string[] = [];

/** Waits until no task of the job is queued or running (at most five minutes). */
async function waitForJob(job: string): Promise<void> {
  for (let waited = 0; (await ok("squeue", ["-h", "-j", job])) !== ""; waited += 500) {
    if (waited > 300_000) throw new Error(`job ${job} still queued or running after 5 minutes`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** A job's state and reason, as scontrol shows them. */
async function jobState(job: string): Promise<string> {
  const text = await ok("scontrol", ["show", "job", job]);
  return [...text.matchAll(/(JobState|Reason)=(\S+)/g)].map((m) => m[2]).join(" ");
}

const comparable = async (out: string) => {
  const { createdAt: _c, timings: _t, ...rest } = JSON.parse(await Deno.readTextFile(join(out, "report.json")));
  return rest;
};

Deno.test({
  name: "Slurm: 4 shards and the merge on a one-node cluster write the single-machine report; the faults",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    try {
      await slurmRun();
    } finally {
      if (submitted.length > 0) await sh("scancel", submitted);
    }
  },
});

/** The run and the faults (see the module's comment). */
async function slurmRun() {
  const which = await sh("sh", ["-c", "command -v sbatch slurmctld slurmd munged"]);
  assert.equal(which.code, 0, "slurm-wlm and munge are not installed (.ci/run installs them)");
  await ok(join(ROOT, "deploy/slurm/local-cluster.sh"), []);
  const dir = await Deno.makeTempDir({ prefix: "slurm-" });
  const env = { DENO: Deno.execPath() };
  // This cluster has no GPU gres and two CPUs.
  const sbatchFlags = ["--gres=none", "--cpus-per-task=1", "-o", join(dir, "%x-%j.out")];
  const submit = async (out: string) => {
    const line = await ok(join(ROOT, "deploy/slurm/submit.sh"), ["4", out, ...FLAGS], {
      ...env,
      SBATCH_EXTRA: sbatchFlags.join(" "),
    });
    const match = /^array (\d+) merge (\d+)$/.exec(line);
    assert.ok(match, line);
    submitted.push(match[1], match[2]);
    return { array: match[1], merge: match[2] };
  };
  const log = (job: string) => Deno.readTextFile(join(dir, `audit-merge-${job}.out`));

  const single = join(dir, "single");
  const alone = await runCli("audit", ["--out", single, "--quiet", ...FLAGS]);
  assert.equal(alone.code, 0, alone.stderr);
  const expected = await comparable(single);

  // The run as users start it: the array, then the merge once every task ended well.
  const first = await submit(join(dir, "run"));
  await waitForJob(first.merge);
  assert.match(await jobState(first.merge), /^COMPLETED /, await log(first.merge));
  assert.deepEqual(await comparable(join(dir, "run")), expected);

  // Shard 2 (batches 7..10) cancelled after its first batch: the merge can never start.
  const out = join(dir, "faults");
  const second = await submit(out);
  await waitForFile(join(out, "shards", "2", "batch-000007.json"), "shard 2's first chunk");
  await ok("scancel", [`${second.array}_2`]);
  await waitForJob(second.array);
  assert.ok(!(await pathExists(join(out, "shards", "2", "shard.json"))), "shard 2 was cancelled before it finished");
  // The scheduler marks the merge's dependency as never satisfied once it looks again.
  for (let waited = 0; !/^PENDING DependencyNeverSatisfied/.test(await jobState(second.merge)); waited += 500) {
    assert.ok(waited < 60_000, `the merge job is ${await jobState(second.merge)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
  await ok("scancel", [second.merge]);
  // Requeued (now, not after Slurm's requeue delay), it runs the same command and continues.
  await ok("scontrol", ["requeue", `${second.array}_2`]);
  await ok("scontrol", ["update", `jobid=${second.array}_2`, "StartTime=now"]);
  const merge = await ok("sbatch", [
    "--parsable",
    ...sbatchFlags,
    `--dependency=afterok:${second.array}_2`,
    "deploy/slurm/merge.sbatch",
    "--out",
    out,
  ], env);
  submitted.push(merge);
  await waitForJob(merge);
  assert.match(await jobState(merge), /^COMPLETED /, await log(merge));
  const shardLogs = [...Deno.readDirSync(dir)].filter((e) => e.name.startsWith("audit-shard-"));
  const texts = await Promise.all(shardLogs.map((e) => Deno.readTextFile(join(dir, e.name))));
  assert.ok(
    texts.some((t) => /shards\/2: continuing after its \d+ finished batches/.test(t)),
    "the requeued shard resumed from its chunks",
  );
  assert.deepEqual(await comparable(out), expected);

  const mergeNow = async () => {
    const result = await sh("sbatch", [
      "--wait",
      "--parsable",
      ...sbatchFlags,
      "deploy/slurm/merge.sbatch",
      "--out",
      out,
      "--force",
    ], env);
    assert.notEqual(result.code, 0, "the merge job failed");
    const lines = (await log(result.stdout.split("\n")[0])).split("\n").filter((l) => l.startsWith("merge:"));
    assert.equal(lines.length, 1, lines.join("\n"));
    return lines[0];
  };
  // A shard folder missing.
  await Deno.rename(join(out, "shards", "3"), join(dir, "shard-3-away"));
  assert.match(await mergeNow(), /^merge: shard 3\/4 is missing \(no .*faults\/shards\/3\): run audit --shard 3\/4/);
  await Deno.rename(join(dir, "shard-3-away"), join(out, "shards", "3"));
  // Shard 1 run again, as a job of its own, with another model.
  const foreign = await sh("sbatch", [
    "--wait",
    ...sbatchFlags,
    "--array=1",
    "deploy/slurm/audit.sbatch",
    "--out",
    out,
    "--model",
    "fixtures/models/digits-marked",
    "--force",
    ...FLAGS,
  ], { ...env, AUDIT_SHARD: "1/4" });
  assert.equal(foreign.code, 0, foreign.stderr);
  assert.match(
    await mergeNow(),
    /^merge: shard 1\/4 \(.*faults\/shards\/1\) was run with other inputs than the rest: fingerprint\.model /,
  );
  await Deno.remove(dir, { recursive: true });
}
