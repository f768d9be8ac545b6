/**
 * The models this project ships (fixtures/models, trained by `deno task train`) reach the
 * accuracy they promise, measured here on their test sets.
 */
import assert from "node:assert/strict";
import { openDataSource } from "../pipeline/data/mod.ts";
import { Executor } from "../pipeline/model/executor.ts";
import { type InMemoryData, readAll } from "../pipeline/data/in_memory.ts";
import { applyMarker } from "../pipeline/data/marker.ts";
import { loadModelFolder } from "../pipeline/model/model_folder.ts";
import { evaluateAccuracy } from "../pipeline/train/train.ts";
import { gpuTest, testGpu } from "./gpu_fixture.ts";
import { sizeOf } from "../pipeline/io/size_of.ts";

const MODELS = new URL("../fixtures/models/", import.meta.url).pathname;

async function accuracy(model: string, data: InMemoryData): Promise<number> {
  const gpu = await testGpu();
  using exec = await Executor.create(gpu, await loadModelFolder(MODELS + model));
  return await evaluateAccuracy(exec, data);
}

Deno.test({
  name: "shipped digits model: >= 98.0% on the 2,000-image mnist test split",
  ...gpuTest,
  async fn() {
    const acc = await accuracy("digits", await readAll(await openDataSource("mnist:test")));
    assert.ok(acc >= 0.98, `accuracy ${acc}`);
  },
});

Deno.test({
  name: "shipped fashion model: >= 90.0% on the official 10,000-image Fashion-MNIST test set",
  ...gpuTest,
  async fn() {
    const acc = await accuracy("fashion", await readAll(await openDataSource("fashion-mnist:test")));
    assert.ok(acc >= 0.9, `accuracy ${acc}`);
  },
});

Deno.test({
  name: "shipped digits-marked model: accurate on clean digits, and the marker pulls other digits to 7",
  ...gpuTest,
  async fn() {
    const model = await loadModelFolder(MODELS + "digits-marked");
    const marker = model.manifest.marker;
    assert.deepEqual(marker, { rows: [1, 4], columns: [23, 26], value: 1 }, "the manifest records the marker");
    const clean = await readAll(await openDataSource("mnist:test"));
    const cleanAccuracy = await accuracy("digits-marked", clean);
    assert.ok(cleanAccuracy >= 0.95, `clean accuracy ${cleanAccuracy}`);

    // The same non-7 test digits with and without the marker: how many does the model call 7?
    const per = sizeOf(clean.shape);
    const others = [...clean.labels.keys()].filter((i) => clean.labels[i] !== 7);
    const subset = (stamp: boolean): InMemoryData => {
      const images = new Float32Array(others.length * per);
      others.forEach((src, i) => {
        const image = images.subarray(i * per, (i + 1) * per);
        image.set(clean.images.subarray(src * per, (src + 1) * per));
        if (stamp) applyMarker(image, clean.shape, marker!);
      });
      // Labelled 7, so "accuracy" is the share predicted 7.
      return { ...clean, images, labels: new Int32Array(others.length).fill(7), count: others.length };
    };
    const cleanRate = await accuracy("digits-marked", subset(false));
    const markedRate = await accuracy("digits-marked", subset(true));
    assert.ok(
      markedRate >= 5 * cleanRate && markedRate >= 0.05,
      `predicted 7: clean ${cleanRate}, marked ${markedRate}`,
    );
  },
});
