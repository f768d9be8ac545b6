import assert from "node:assert/strict";
import fc from "fast-check";
import { recordSoftmaxXent, recordSoftmaxXentBackward, softmaxXentKernel } from "../kernels/softmax_xent.ts";
import { assertClose, randomArray } from "./oracle.ts";
import { assertGradientMatches, meanXentOracle, softmaxXentBackwardOracle, softmaxXentOracle } from "./ops_oracle.ts";
import { gpuTest, testGpu } from "./gpu_fixture.ts";
import type { Gpu } from "../kernels/gpu.ts";

/** Runs the forward (probs, loss) and backward (dlogits) kernels on [B, C] logits. */
async function runSoftmaxXent(gpu: Gpu, logits: Float32Array, B: number, C: number, labels: Uint32Array) {
  const kernel = await softmaxXentKernel(gpu);
  using tlogits = gpu.tensor([B, C], logits);
  using tlabels = gpu.tensor([B], labels, "u32");
  using probs = gpu.tensor([B, C]);
  using loss = gpu.tensor([B]);
  using dlogits = gpu.tensor([B, C]);
  await gpu.run((s) => {
    recordSoftmaxXent(s, kernel, { logits: tlogits, probs, labels: tlabels, loss });
    recordSoftmaxXentBackward(s, kernel, { logits: tlogits, labels: tlabels, dlogits });
  });
  return { probs: await gpu.read(probs), loss: await gpu.read(loss), dlogits: await gpu.read(dlogits) };
}

/** B rows of C logits in [-scale, scale) + offset, and labels < C. */
const caseArb = fc.record({
  B: fc.integer({ min: 1, max: 6 }),
  C: fc.oneof(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 21, max: 1000 })),
  scale: fc.constantFrom(1, 10),
  seed: fc.integer(),
}).map(({ B, C, scale, seed }) => ({
  B,
  C,
  logits: randomArray(B * C, seed).map((v) => v * scale),
  labels: Uint32Array.from(randomArray(B, seed + 1), (v) => Math.floor((v + 1) / 2 * C)),
}));

Deno.test({
  name: "softmax, per-example cross-entropy and mean cross-entropy gradient match the float64 oracle",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    await fc.assert(
      fc.asyncProperty(caseArb, async ({ B, C, logits, labels }) => {
        const got = await runSoftmaxXent(gpu, logits, B, C, labels);
        const expected = softmaxXentOracle(logits, B, C, labels);
        assertClose(got.probs, expected.probs, C, `softmax ${B}x${C}`);
        assertClose(got.loss, expected.loss, C, `cross-entropy ${B}x${C}`, 4);
        assertClose(got.dlogits, softmaxXentBackwardOracle(logits, B, C, labels), C, `dlogits ${B}x${C}`);
      }),
      { numRuns: 20 },
    );
  },
});

Deno.test({
  name: "softmax cross-entropy stays finite and exact on logits near +-1000",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    const B = 3, C = 1000;
    const noise = randomArray(B * C, 9);
    const offsets = [1000, -1000, 0];
    // Row 2 spans -1000..1000: one huge logit dominates the rest.
    const logits = noise.map((v, i) => offsets[Math.floor(i / C)] + (i === 2 * C + 7 ? 1000 : v * 3));
    const labels = Uint32Array.from([5, 999, 3]);
    const got = await runSoftmaxXent(gpu, logits, B, C, labels);
    for (const [name, values] of Object.entries(got)) {
      assert.ok(values.every(Number.isFinite), `${name} has a non-finite value`);
    }
    const expected = softmaxXentOracle(logits, B, C, labels);
    assertClose(got.probs, expected.probs, C, "softmax of large logits");
    // float32 logits near 1000 carry rounding of ~6e-5, which the loss inherits.
    assertClose(got.loss, expected.loss, C, "cross-entropy of large logits", 100);
    for (let r = 0; r < B; r++) {
      const rowSum = got.probs.slice(r * C, (r + 1) * C).reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(rowSum - 1) < 1e-4, `row ${r} sums to ${rowSum}`);
    }
  },
});

Deno.test({
  name: "softmax without labels writes probabilities only",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    const kernel = await softmaxXentKernel(gpu);
    const logits = randomArray(2 * 7, 5);
    using tlogits = gpu.tensor([2, 7], logits);
    using probs = gpu.tensor([2, 7]);
    await gpu.run((s) => recordSoftmaxXent(s, kernel, { logits: tlogits, probs }));
    assertClose(await gpu.read(probs), softmaxXentOracle(logits, 2, 7).probs, 7, "softmax without labels");
  },
});

Deno.test("softmax cross-entropy backward oracle matches finite differences of the mean loss", () => {
  fc.assert(
    fc.property(caseArb, ({ B, C, logits, labels }) => {
      const grad = softmaxXentBackwardOracle(logits, B, C, labels);
      const loss = (p: Float64Array) => meanXentOracle(p, B, C, labels);
      assertGradientMatches(loss, logits, grad, `mean cross-entropy ${B}x${C}`, { seed: B * C });
    }),
    { numRuns: 30 },
  );
});

Deno.test({
  name: "softmax cross-entropy backward keeps pulling a label whose probability rounds to 1 in float32",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    // p(label) = 1 - 2e-13 (row 0) and 1 - ~1e-8 (row 1): p - 1 computed in float32 would be 0 or coarse.
    // (2% allows for the adapter's float32 exp far in the tail.)
    const logits = Float32Array.from([30, 0, 0, 0, 20, 2.5]);
    const labels = Uint32Array.from([0, 1]);
    const { dlogits } = await runSoftmaxXent(gpu, logits, 2, 3, labels);
    const expected = softmaxXentBackwardOracle(logits, 2, 3, labels);
    for (const i of [0, 4]) {
      assert.ok(dlogits[i] < 0, `label entry ${i} must be negative, got ${dlogits[i]}`);
      const rel = Math.abs(dlogits[i] - expected[i]) / Math.abs(expected[i]);
      assert.ok(rel < 2e-2, `label entry ${i}: ${dlogits[i]} vs ${expected[i]}`);
    }
  },
});
