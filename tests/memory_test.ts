/**
 * GPU memory of whole passes: a tape kept for the input gradient gives the same gradient as one
 * keeping every value while holding less at its peak; the footprint replay (footprint.ts) bounds
 * the measured peak; and batches after the first create no GPU buffer (storage, read-back or
 * uniform), so the pool reuses them all in steady state.
 */
import assert from "node:assert/strict";
import { peakBytesPerImage } from "../kernels/gpu.ts";
import { recordSoftmaxXentBackward } from "../kernels/softmax_xent.ts";
import { bytesPerImage, Executor } from "../pipeline/model/executor.ts";
import { recordCrossEntropyGradient } from "../pipeline/model/loss.ts";
import { importOnnx } from "../pipeline/model/onnx/mod.ts";
import { gpuTest, testGpu } from "./gpu_fixture.ts";
import { resnet18Fixture } from "./onnx_fixtures.ts";
import { randomArray } from "./oracle.ts";

async function resnet(batch: number) {
  const gpu = await testGpu();
  const fixture = resnet18Fixture();
  const imported = await importOnnx(fixture.bytes, { source: "resnet18.onnx", folder: ".", input: fixture.input });
  const exec = await Executor.create(gpu, { ...imported, manifest: { normalization: fixture.sidecar.normalization } });
  const shape = [batch, ...fixture.input];
  const x = gpu.tensor(shape, randomArray(shape.reduce((a, b) => a * b), 5).map((v) => (v + 1) / 2));
  const labels = gpu.tensor([batch], Array.from({ length: batch }, (_, i) => i % 10), "u32");
  return { gpu, exec, x, labels };
}

Deno.test({
  name: "a tape kept for the input gradient matches a full tape's gradient, holding less; the replay bounds the peak",
  ...gpuTest,
  async fn() {
    const batch = 2;
    const { gpu, exec, x, labels } = await resnet(batch);
    using _exec = exec, _x = x, _labels = labels;
    // The full tape: forward keeping every value, then the same loss gradient by hand.
    let full!: Float32Array, trimmed!: Float32Array;
    const fullPeak = await peakBytesPerImage(gpu, batch, async () => {
      let grad!: ReturnType<typeof exec.backward>;
      let dispose!: () => void;
      await gpu.run((step) => {
        const tape = exec.forwardWithTape(step, x);
        using dlogits = gpu.tensor(tape.output.shape);
        recordSoftmaxXentBackward(step, exec.kernels.softmaxXent, { logits: tape.output, labels, dlogits });
        grad = exec.backward(step, tape, dlogits);
        dispose = () => tape.dispose();
      });
      full = await gpu.read(grad.input!);
      grad[Symbol.dispose]();
      dispose();
    });
    const trimmedPeak = await peakBytesPerImage(gpu, batch, async () => {
      let result!: ReturnType<typeof recordCrossEntropyGradient>;
      await gpu.run((step) => (result = recordCrossEntropyGradient(step, exec, x, labels)));
      trimmed = await gpu.read(result.grads.input!);
      result[Symbol.dispose]();
    });
    assert.deepEqual(trimmed, full, "the same kernels on the same values: bit for bit");
    assert.ok(trimmedPeak < 0.8 * fullPeak, `trimmed tape ${trimmedPeak} bytes per image vs full ${fullPeak}`);
    for (const [keep, measured] of [["all", fullPeak], ["input-gradient", trimmedPeak]] as const) {
      const replayed = bytesPerImage(exec, keep);
      assert.ok(measured <= replayed && replayed < 2 * measured, `${keep}: measured ${measured}, replayed ${replayed}`);
    }
  },
});

Deno.test({
  name: "after the first batch, forward + backward batches create no GPU buffer",
  ...gpuTest,
  async fn() {
    const { gpu, exec, x, labels } = await resnet(2);
    using _exec = exec, _x = x, _labels = labels;
    const batch = async () => {
      let result!: ReturnType<typeof recordCrossEntropyGradient>;
      await gpu.run((step) => (result = recordCrossEntropyGradient(step, exec, x, labels, { loss: true })));
      await gpu.readMany([result.logits, result.grads.input!, result.loss!]);
      result[Symbol.dispose]();
    };
    await batch();
    const created = gpu.memory.creations;
    for (let i = 0; i < 3; i++) await batch();
    assert.equal(gpu.memory.creations, created, "buffers created by batches 2-4");
  },
});

Deno.test({
  name: "a tape kept for one feature holds that value as a full tape does, and refuses a backward",
  ...gpuTest,
  async fn() {
    const { gpu, exec, x } = await resnet(2);
    using _exec = exec, _x = x;
    const feature = exec.graph.nodes[exec.graph.nodes.length - 2].name;
    const read = async (keep?: { values: string[] }) => {
      let tape!: ReturnType<typeof exec.forwardWithTape>;
      const peak = await peakBytesPerImage(gpu, 2, async () => {
        await gpu.run((step) => (tape = exec.forwardWithTape(step, x, keep ? { keep } : {})));
      });
      using _ = tape;
      assert.equal(tape.values.size, keep ? 2 : exec.graph.nodes.length + 1, "values kept");
      if (keep) assert.throws(() => exec.backward(null as never, tape, tape.output), /tape was kept for/);
      return { value: await gpu.read(tape.values.get(feature)!), peak };
    };
    const [one, all] = [await read({ values: [feature] }), await read()];
    assert.deepEqual(one.value, all.value);
    assert.ok(one.peak < all.peak, `${one.peak} vs ${all.peak} bytes per image`);
  },
});
