import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { Executor } from "../pipeline/model/executor.ts";
import { loadModel } from "../pipeline/model/load_model.ts";
import { recordCrossEntropyGradient } from "../pipeline/model/loss.ts";
import { saveModelFolder } from "../pipeline/model/model_folder.ts";
import { gpuTest, testGpu } from "./gpu_fixture.ts";
import { lenetFixture, mobilenetV2Fixture, type OnnxFixture, resnet18Fixture } from "./onnx_fixtures.ts";
import { assertGradientMatchesOrt, assertLogitsMatch, OrtModel } from "./onnx_ort.ts";

const BATCH = 2;
const LABELS = [1, 3];

/** Writes the fixture and its sidecar to a temporary folder; returns the .onnx path. */
async function writeFixture(f: OnnxFixture): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: `onnx-${f.name}-` });
  const path = join(dir, `${f.name}.onnx`);
  await Deno.writeFile(path, f.bytes);
  await Deno.writeTextFile(`${path}.json`, JSON.stringify(f.sidecar));
  return path;
}

for (const make of [lenetFixture, resnet18Fixture, mobilenetV2Fixture]) {
  const fixture = make();
  Deno.test({
    name: `onnx import: ${fixture.name} logits match onnxruntime and input gradients match its finite differences`,
    ...gpuTest,
    async fn() {
      const gpu = await testGpu();
      const path = await writeFixture(fixture);
      const { files, sha256, source } = await loadModel(path);
      assert.equal(source, "onnx");
      assert.equal(sha256, createHash("sha256").update(fixture.bytes).digest("hex"));
      assert.deepEqual(files.graph.input.shape, fixture.input);
      assert.deepEqual(files.manifest.classes, fixture.sidecar.classes);

      const shape = [BATCH, ...fixture.input];
      const x = Float32Array.from(
        { length: shape.reduce((a, b) => a * b) },
        (_, i) => (Math.sin(i * 1.37 + 0.2) + 1) / 2,
      );
      using exec = await Executor.create(gpu, files);
      using input = gpu.tensor(shape, x);
      using labels = gpu.tensor([BATCH], LABELS, "u32");
      let result!: ReturnType<typeof recordCrossEntropyGradient>;
      await gpu.run((step) => {
        result = recordCrossEntropyGradient(step, exec, input, labels, { input: true });
      });
      using _ = result;
      const ours = await gpu.read(result.logits);
      const gradient = await gpu.read(result.grads.input!);

      const ort = await OrtModel.create(fixture.reference, fixture.sidecar.normalization);
      try {
        assertLogitsMatch(ours, await ort.logits(x, shape), fixture.name);
        await assertGradientMatchesOrt(ort, x, shape, LABELS, gradient, `${fixture.name} input gradient`);
      } finally {
        await ort.release();
      }
    },
  });
}

Deno.test("onnx import: an output softmax is dropped with a note in the manifest; a foldable constant Mul leaves no node", async () => {
  const lenet = await loadModel(await writeFixture(lenetFixture()));
  assert.equal(lenet.files.graph.nodes.at(-1)!.op, "dense");
  const notes = lenet.files.manifest.provenance?.notes as string[];
  assert.ok(notes.some((n) => /Softmax .* dropped/.test(n)), JSON.stringify(notes));
  assert.equal(lenet.files.manifest.provenance?.opset, 11);

  // MobileNetV2's logit scale folds into the classifier conv; its per-channel stem scale cannot fold (it follows a clip).
  const mobile = await loadModel(await writeFixture(mobilenetV2Fixture()));
  const muls = mobile.files.graph.nodes.filter((n) => n.name.startsWith("mul_"));
  assert.deepEqual(muls.map((n) => n.op), ["binary"]);
  assert.deepEqual(mobile.files.graph.nodes.slice(-3).map((n) => n.op), ["reshape", "conv2d", "flatten"]);
});

Deno.test("onnx import: a folder and an onnx file load through the same loader, each with its sha256", async () => {
  const path = await writeFixture(lenetFixture());
  const onnx = await loadModel(path);
  const dir = await Deno.makeTempDir({ prefix: "onnx-folder-" });
  await saveModelFolder(dir, onnx.files);
  const folder = await loadModel(dir);
  assert.equal(folder.source, "folder");
  const weights = await Deno.readFile(join(dir, "weights.safetensors"));
  assert.equal(folder.sha256, createHash("sha256").update(weights).digest("hex"));
  assert.deepEqual(folder.files.graph, onnx.files.graph);
});
