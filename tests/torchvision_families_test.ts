/**
 * Every torchvision classification family against PyTorch: each family's small variant (see
 * VARIANTS in tests/torchvision_families.py) exported by torch.onnx.export, imported by the tool's
 * ONNX importer, run forward and backward on the GPU executor at batch 2. The logits must match
 * PyTorch's (float64) to max |ours - theirs| / max |theirs| <= 1e-4, and the input gradient of the
 * mean cross-entropy to ||ours - theirs||_2 / ||theirs||_2 <= 1e-2. A family that does not import
 * or run fails its step, and so the test.
 */
import assert from "node:assert/strict";
import { gpuTest, testGpu } from "./gpu_fixture.ts";
import {
  exportFamilies,
  FAMILIES,
  familyFiles,
  readArray,
  relativeL2,
  relativeMaxError,
  runFamily,
} from "./torchvision_families.ts";

const LOGIT_TOLERANCE = 1e-4;
const GRADIENT_TOLERANCE = 1e-2;

Deno.test({
  name: "torchvision families: logits and input gradients match PyTorch's",
  ...gpuTest,
  async fn(t) {
    const gpu = await testGpu();
    const { dir, entries } = await exportFamilies("test", FAMILIES);
    for (const family of FAMILIES) {
      await t.step(family, async () => {
        const entry = entries[family];
        assert.ok(entry && !("error" in entry), `${family}: PyTorch could not export it: ${JSON.stringify(entry)}`);
        const start = performance.now();
        const ours = await runFamily(gpu, dir, family, entry.labels);
        const files = familyFiles(dir, family);
        const logitError = relativeMaxError(ours.logits, await readArray(files.logits));
        const gradientError = relativeL2(ours.gradient, await readArray(files.grad));
        console.log(
          `${family}: logits ${logitError.toExponential(2)}, input gradient ${gradientError.toExponential(2)} ` +
            `(PyTorch float32: ${entry.float32Floor.toExponential(2)}) ` +
            `(${((performance.now() - start) / 1000).toFixed(1)} s; ${entry.variant})`,
        );
        assert.ok(logitError <= LOGIT_TOLERANCE, `${family}: logits off by ${logitError} of their largest`);
        assert.ok(
          gradientError <= GRADIENT_TOLERANCE,
          `${family}: input gradient off by ${gradientError} (L2); PyTorch's float32 is off by ${entry.float32Floor}`,
        );
      });
    }
  },
});
