import assert from "node:assert/strict";
import { join } from "node:path";
import type { Tensor } from "../kernels/tensor.ts";
import { Executor } from "../pipeline/model/executor.ts";
import { InputError } from "../pipeline/io/input_error.ts";
import type { ModelFiles } from "../pipeline/model/model_files.ts";
import { loadModelFolder, saveModelFolder } from "../pipeline/model/model_folder.ts";
import { gpuTest, testGpu } from "./gpu_fixture.ts";
import { resnetFixture } from "./resnet_fixture.ts";

async function logits(model: ModelFiles, x: Float32Array): Promise<Float32Array> {
  const gpu = await testGpu();
  using exec = await Executor.create(gpu, model);
  using input = gpu.tensor([2, 3, 9, 9], x);
  let out!: Tensor;
  await gpu.run((step) => {
    out = exec.forward(step, input);
  });
  using _ = out;
  return await gpu.read(out);
}

Deno.test({
  name: "a saved-then-loaded model folder gives bit-identical logits",
  ...gpuTest,
  async fn() {
    const dir = await Deno.makeTempDir();
    const model = resnetFixture();
    await saveModelFolder(dir, model);
    const loaded = await loadModelFolder(dir);
    assert.deepEqual(loaded.manifest, model.manifest);
    assert.deepEqual(loaded.graph, model.graph);
    const x = Float32Array.from({ length: 2 * 3 * 81 }, (_, i) => (i % 17) / 17);
    assert.deepEqual(await logits(loaded, x), await logits(model, x));
  },
});

Deno.test("loading a model folder with a parameter missing names the parameter", async () => {
  const dir = await Deno.makeTempDir();
  const model = resnetFixture();
  model.weights.delete("bn2.v");
  await saveModelFolder(dir, model);
  await assert.rejects(
    () => loadModelFolder(dir),
    (e: Error) => e instanceof InputError && /missing parameter\(s\) bn2\.v/.test(e.message),
  );
});

Deno.test("loading a model folder whose graph reads an undefined value names the node", async () => {
  const dir = await Deno.makeTempDir();
  const model = resnetFixture();
  model.graph.nodes[2] = { ...model.graph.nodes[2], inputs: ["nowhere"] };
  await saveModelFolder(dir, model);
  await assert.rejects(
    () => loadModelFolder(join(dir)),
    (e: Error) =>
      e instanceof InputError && /node "relu1" reads "nowhere", which no earlier node defines/.test(e.message),
  );
});
