import assert from "node:assert/strict";
import { join } from "node:path";
import { buildConvnet } from "../pipeline/architectures.ts";
import { mulberry32 } from "../pipeline/data/prng.ts";
import { encodeIdx } from "../pipeline/idx.ts";
import type { InMemoryData } from "../pipeline/in_memory.ts";
import { train } from "../pipeline/train.ts";
import { runCli } from "./cli_helpers.ts";
import { gpuTest, testGpu } from "./gpu_fixture.ts";

/**
 * A small problem with a known answer: class c has a bright bar in row band c (of `classes`
 * bands), on seeded noise, in 1 x size x size images with values in [0, 1].
 */
function bars(count: number, classes: number, size: number, seed: number): InMemoryData {
  const random = mulberry32(seed);
  const images = new Float32Array(count * size * size);
  const labels = new Int32Array(count);
  const band = Math.floor(size / classes);
  for (let i = 0; i < count; i++) {
    const label = i % classes;
    labels[i] = label;
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const bright = y >= label * band && y < (label + 1) * band;
        images[(i * size + y) * size + x] = Math.min(1, (bright ? 0.6 : 0) + 0.4 * random());
      }
    }
  }
  return { images, labels, count, shape: [1, size, size], classes: Array.from({ length: classes }, (_, c) => `${c}`) };
}

Deno.test({
  name: "training lowers the loss and learns a tiny fixed problem",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    const data = bars(96, 3, 8, 5);
    const test = bars(48, 3, 8, 6);
    const { graph, weights } = buildConvnet({ input: [1, 8, 8], classes: 3, widths: [4] }, 3);
    const manifest = {
      format: "convnet-model" as const,
      version: 1 as const,
      name: "bars",
      classes: data.classes,
      input: { channels: 1, height: 8, width: 8 },
      normalization: { mean: [0.4], std: [0.3] },
      inputRange: [0, 1] as [number, number],
    };
    const settings = {
      epochs: 4,
      batchSize: 16,
      optimizer: "adam" as const,
      lr: 0.01,
      momentum: 0.9,
      weightDecay: 0,
      seed: 2,
      shift: 0,
    };
    const { history } = await train(gpu, { graph, weights, manifest }, data, test, settings, await Deno.makeTempDir());
    assert.equal(history.length, 4);
    assert.ok(history[3].loss < 0.5 * history[0].loss, `loss ${history[0].loss} -> ${history[3].loss}`);
    assert.ok(history[3].testAccuracy >= 0.9, `test accuracy ${history[3].testAccuracy}`);
  },
});

/** Writes a bars data set as an IDX pair (pixels scaled to bytes) and returns its spec. */
async function writeIdx(dir: string, name: string, data: InMemoryData): Promise<string> {
  const [, h, w] = data.shape;
  const images = join(dir, `${name}-images.idx`), labels = join(dir, `${name}-labels.idx`);
  await Deno.writeFile(
    images,
    encodeIdx({ shape: [data.count, h, w], data: Uint8Array.from(data.images, (v) => Math.round(v * 255)) }),
  );
  await Deno.writeFile(labels, encodeIdx({ shape: [data.count], data: Uint8Array.from(data.labels) }));
  return `idx:${images},${labels}`;
}

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
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "cli/train.ts", ...args(killedDir)],
    cwd: new URL("..", import.meta.url).pathname,
    stdout: "null",
    stderr: "null",
  }).spawn();
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
