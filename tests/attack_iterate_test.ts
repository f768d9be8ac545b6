import assert from "node:assert/strict";
import fc from "fast-check";
import {
  attackIterateKernels,
  recordDlr,
  recordL2Step,
  recordMomentumStep,
  recordSelect,
} from "../kernels/attack_iterate.ts";
import { dlrOracle, l2StepOracle, momentumStepOracle } from "./attack_oracle.ts";
import { gpuTest, testGpu } from "./gpu_fixture.ts";
import { maxAbsDiff, randomArray } from "./oracle.ts";
import type { Gpu, Step } from "../kernels/gpu.ts";
import type { AttackIterateKernels, MomentumStepArgs } from "../kernels/attack_iterate.ts";

/** A GPU test with the compiled kernels. */
function kernelTest(name: string, body: (gpu: Gpu, kernels: AttackIterateKernels) => Promise<void>): void {
  Deno.test({
    name,
    ...gpuTest,
    async fn() {
      const gpu = await testGpu();
      await body(gpu, await attackIterateKernels(gpu));
    },
  });
}

/** Runs one step of the momentum layout on host arrays ([batch, per] images, [batch] radii and step sizes). */
async function runStep(
  gpu: Gpu,
  record: (step: Step, args: MomentumStepArgs) => void,
  host: Parameters<typeof momentumStepOracle>[0],
): Promise<{ x: Float32Array; xPrev: Float32Array }> {
  const batch = host.eps.length, per = host.x.length / batch;
  using x = gpu.tensor([batch, per], host.x);
  using xPrev = gpu.tensor([batch, per], host.xPrev);
  using origin = gpu.tensor([batch, per], host.origin);
  using grad = gpu.tensor([batch, per], host.grad);
  using eps = gpu.tensor([batch], host.eps);
  using eta = gpu.tensor([batch], host.eta);
  const direction = host.direction as 1 | -1;
  await gpu.run((s) =>
    record(s, { x, xPrev, grad, origin, eps, eta, alpha: host.alpha, direction, range: host.range })
  );
  return { x: await gpu.read(x), xPrev: await gpu.read(xPrev) };
}

/** A momentum-layout step's random case: batch, image size, alpha, direction, range, seed. */
function stepCases(maxBatch: number, maxPer: number) {
  return [
    fc.integer({ min: 1, max: maxBatch }),
    fc.integer({ min: 1, max: maxPer }),
    fc.constantFrom(1, 0.75),
    fc.constantFrom<1 | -1>(1, -1),
    fc.constantFrom<[number, number]>([0, 1], [-1, 1]),
    fc.integer(),
  ] as const;
}

kernelTest(
  "APGD momentum step matches the float64 oracle: projected sign step, momentum, ball and range",
  async (gpu, kernels) => {
    await fc.assert(
      fc.asyncProperty(
        ...stepCases(5, 600),
        async (batch, per, alpha, direction, range, seed) => {
          const [lo, hi] = range;
          const eps = randomArray(batch, seed).map((v) => Math.abs(v) * 0.5);
          const eta = randomArray(batch, seed + 4).map((v) => Math.abs(v) * 0.8);
          const origin = randomArray(batch * per, seed + 1).map((v) => lo + (v + 1) / 2 * (hi - lo));
          const x = origin.map((o, i) => Math.min(hi, Math.max(lo, o + 0.3 * Math.sin(i + seed))));
          const xPrev = origin.map((o, i) => Math.min(hi, Math.max(lo, o + 0.3 * Math.cos(i * 3 + seed))));
          const grad = randomArray(batch * per, seed + 3).map((v, i) => (i % 5 === 0 ? 0 : v));
          const host = { x, xPrev, origin, grad, eps, eta, alpha, direction, range };
          const next = await runStep(gpu, (s, args) => recordMomentumStep(s, kernels.momentum, args), host);
          assert.ok(maxAbsDiff(next.x, momentumStepOracle(host)) <= 1e-6, "next iterate");
          assert.deepEqual(next.xPrev, Float32Array.from(x), "the previous iterate becomes the current");
        },
      ),
      { numRuns: 20 },
    );
  },
);

kernelTest(
  "L2 step matches the float64 oracle on odd shapes (per-image norms over several workgroup passes), in ball and range",
  async (gpu, kernels) => {
    await fc.assert(
      fc.asyncProperty(
        ...stepCases(7, 1300),
        async (batch, per, alpha, direction, range, seed) => {
          const [lo, hi] = range;
          const eps = randomArray(batch, seed).map((v, n) => (n === 0 ? 0 : Math.abs(v) * 3));
          const eta = randomArray(batch, seed + 4).map((v) => Math.abs(v) * 4);
          const origin = randomArray(batch * per, seed + 1).map((v) => lo + (v + 1) / 2 * (hi - lo));
          const inBall = (k: number) =>
            origin.map((o, i) => Math.min(hi, Math.max(lo, o + 0.05 * Math.sin(k * i + seed))));
          const [x, xPrev] = [inBall(1), inBall(3)];
          const grad = randomArray(batch * per, seed + 3).map((v, i) => (i % 5 === 0 ? 0 : v));
          const host = { x, xPrev, origin, grad, eps, eta, alpha, direction, range };
          const next = await runStep(gpu, (s, args) => recordL2Step(s, kernels.l2, args), host);
          const got = next.x, expected = l2StepOracle(host);
          assert.ok(maxAbsDiff(got, expected) <= 1e-5, `next iterate: ${maxAbsDiff(got, expected)}`);
          assert.deepEqual(next.xPrev, Float32Array.from(x), "the previous iterate becomes the current");
          for (let n = 0; n < batch; n++) {
            const d = Array.from({ length: per }, (_, j) => got[n * per + j] - origin[n * per + j]);
            const norm = Math.sqrt(d.reduce((s, v) => s + v * v, 0));
            assert.ok(norm <= eps[n] * (1 + 1e-5) + 1e-6, `image ${n}: L2 norm ${norm} > ${eps[n]}`);
          }
          assert.ok(got.every((v) => v >= lo && v <= hi), "left the range");
        },
      ),
      { numRuns: 20 },
    );
  },
);

kernelTest("masked copy replaces exactly the selected images", async (gpu, kernels) => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.boolean(), { minLength: 1, maxLength: 9 }),
      fc.integer({ min: 1, max: 300 }),
      fc.integer(),
      async (mask, per, seed) => {
        const batch = mask.length;
        const src = randomArray(batch * per, seed), dst = randomArray(batch * per, seed + 1);
        using tm = gpu.tensor([batch], mask.map(Number), "u32");
        using ts = gpu.tensor([batch, per], src);
        using td = gpu.tensor([batch, per], dst);
        await gpu.run((s) => recordSelect(s, kernels.select, { mask: tm, src: ts, dst: td }));
        const expected = Float32Array.from(dst, (v, i) => (mask[Math.floor(i / per)] ? src[i] : v));
        assert.deepEqual(await gpu.read(td), expected);
      },
    ),
    { numRuns: 20 },
  );
});

kernelTest(
  "DLR loss matches its definition and its logit gradient matches central differences (untargeted, targeted)",
  async (gpu, kernels) => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 4, max: 12 }),
        fc.boolean(),
        fc.integer(),
        async (batch, classes, targeted, seed) => {
          // Distinct logits a clear gap apart, so the sort (and so the gradient) is stable under the differences.
          const logits = Array.from({ length: batch }, (_, n) => {
            const order = Array.from(randomArray(classes, seed + n), (v, k) => ({ v, k })).sort((a, b) => a.v - b.v);
            const row = new Array<number>(classes);
            order.forEach(({ k }, rank) => (row[k] = rank * 0.7 + 0.2 * Math.sin(seed + n + k)));
            return row;
          });
          const labels = Array.from({ length: batch }, (_, n) => (n + seed >>> 0) % classes);
          const targets = labels.map((l, n) => (l + 1 + (n % (classes - 1))) % classes);
          using tz = gpu.tensor([batch, classes], logits.flat());
          using tl = gpu.tensor([batch], labels, "u32");
          using tt = gpu.tensor([batch], targets, "u32");
          using loss = gpu.tensor([batch]);
          using dlogits = gpu.tensor([batch, classes]);
          await gpu.run((s) =>
            recordDlr(s, kernels.dlr, { logits: tz, labels: tl, targets: targeted ? tt : undefined, loss, dlogits })
          );
          const gotLoss = await gpu.read(loss), gotGrad = await gpu.read(dlogits);
          for (let n = 0; n < batch; n++) {
            const f = (row: number[]) => dlrOracle(row, labels[n], targeted ? targets[n] : undefined);
            assert.ok(Math.abs(gotLoss[n] - f(logits[n])) <= 1e-5, `row ${n} loss ${gotLoss[n]} vs ${f(logits[n])}`);
            for (let k = 0; k < classes; k++) {
              const h = 1e-6;
              const up = [...logits[n]], down = [...logits[n]];
              up[k] += h;
              down[k] -= h;
              const numeric = (f(up) - f(down)) / (2 * h);
              const got = gotGrad[n * classes + k];
              assert.ok(Math.abs(got - numeric) <= 1e-4, `row ${n} class ${k}: ${got} vs ${numeric}`);
            }
          }
        },
      ),
      { numRuns: 20 },
    );
  },
);

kernelTest("DLR refuses too few classes for its sort", async (gpu, kernels) => {
  using logits = gpu.tensor([1, 3]);
  using labels = gpu.tensor([1], [0], "u32");
  using loss = gpu.tensor([1]);
  using dlogits = gpu.tensor([1, 3]);
  await assert.rejects(
    gpu.run((s) => recordDlr(s, kernels.dlr, { logits, labels, targets: labels, loss, dlogits })),
    /needs >= 4 classes/,
  );
});
