import assert from "node:assert/strict";
import { join } from "node:path";
import { bars, trainBarsConvnet, writeIdx } from "./audit_fixture.ts";
import { runCli, spawnCli } from "./cli_helpers.ts";
import { gpuTest, testGpu } from "./gpu_fixture.ts";

Deno.test({
  name: "training lowers the loss and learns a tiny fixed problem",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    const data = bars(96, 3, 8, 5);
    const { history } = await trainBarsConvnet(gpu, data, bars(48, 3, 8, 6));
    assert.equal(history.length, 4);
    assert.ok(history[3].loss < 0.5 * history[0].loss, `loss ${history[0].loss} -> ${history[3].loss}`);
    assert.ok(history[3].testAccuracy >= 0.9, `test accuracy ${history[3].testAccuracy}`);
  },
});

async function waitForCheckpoint(dir: string, child: Deno.ChildProcess): Promise<number> {
  for (let i = 0; i < 3000; i++) {
    try {
      const state = JSON.parse(await Deno.readTextFile(join(dir, "checkpoint.json")));
      if (state.epoch >= 1) return state.epoch;
    } catch {
      // not written yet
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  child.kill("SIGKILL");
  throw new Error("no checkpoint appeared");
}

Deno.test("a training run killed after a checkpoint and resumed reaches the same weights as an uninterrupted run", async () => {
  const dir = await Deno.makeTempDir({ prefix: "train-resume-" });
  const trainSpec = await writeIdx(dir, "train", bars(256, 4, 12, 11));
  const testSpec = await writeIdx(dir, "test", bars(64, 4, 12, 12));
  const args = (out: string) => [
    "--out",
    out,
    "--data",
    trainSpec,
    "--test",
    testSpec,
    "--widths",
    "4",
    "--epochs",
    "10",
    "--batch-size",
    "32",
    "--seed",
    "3",
    "--shift",
    "1",
    "--quiet",
  ];
  const whole = await runCli("train", args(join(dir, "whole")));
  assert.equal(whole.code, 0, whole.stderr);

  const killedDir = join(dir, "killed");
  const child = spawnCli("train", args(killedDir));
  const epoch = await waitForCheckpoint(killedDir, child);
  child.kill("SIGKILL");
  const status = await child.status;
  assert.equal(status.signal, "SIGKILL", `the run finished before it could be killed (after epoch ${epoch})`);
  await assert.rejects(() => Deno.stat(join(killedDir, "weights.safetensors")), "a killed run leaves no final model");
  const checkpointed = JSON.parse(await Deno.readTextFile(join(killedDir, "checkpoint.json"))).history;

  const resumed = await runCli("train", [...args(killedDir), "--resume"]);
  assert.equal(resumed.code, 0, resumed.stderr);
  const a = await Deno.readFile(join(dir, "whole", "weights.safetensors"));
  const b = await Deno.readFile(join(killedDir, "weights.safetensors"));
  assert.ok(a.length > 0 && a.length === b.length && a.every((v, i) => v === b[i]), "weights differ after resume");
  const manifest = JSON.parse(await Deno.readTextFile(join(killedDir, "manifest.json")));
  assert.equal(manifest.provenance.history.length, 10);
  // The epochs done before the kill were not trained again: their records (timings included) are the checkpoint's.
  assert.deepEqual(manifest.provenance.history.slice(0, checkpointed.length), checkpointed);
});

Deno.test("train CLI refuses to overwrite a model without --force and exits 2 on bad flags", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(join(dir, "manifest.json"), "{}");
  const exists = await runCli("train", ["--out", dir, "--epochs", "1"]);
  assert.equal(exists.code, 2);
  assert.match(exists.stderr, /manifest\.json exists: pass --force/);
  const bad = await runCli("train", ["--out", join(dir, "x"), "--widths", "a,b"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--widths: must be comma-separated integers/);
  const data = await runCli("train", ["--out", join(dir, "y"), "--data", "imagenet"]);
  assert.equal(data.code, 2);
  assert.match(data.stderr, /imagenet/);
});
