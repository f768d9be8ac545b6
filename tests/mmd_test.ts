import assert from "node:assert/strict";
import fc from "fast-check";
import { mulberry32, seededPermutation } from "../pipeline/io/prng.ts";
import { GramEngine } from "../pipeline/bias/gram.ts";
import { gammaOf, medianBandwidth, mmd2, mmdTest } from "../pipeline/bias/mmd.ts";
import { gpuTest, testGpu } from "./gpu_fixture.ts";
import { gramOracle, mmd2Oracle } from "./mmd_oracle.ts";
import { assertClose, randomArray } from "./oracle.ts";

const setArb = fc.tuple(
  fc.integer({ min: 2, max: 30 }),
  fc.integer({ min: 2, max: 30 }),
  fc.integer({ min: 1, max: 12 }),
);

function permuteRows(rows: Float32Array, width: number, seed: number): Float32Array {
  const order = seededPermutation(rows.length / width, seed);
  const out = new Float32Array(rows.length);
  order.forEach((from, to) => out.set(rows.subarray(from * width, (from + 1) * width), to * width));
  return out;
}

Deno.test({
  name: "gram engine: row sums, Gram rows and quadratic forms match the float64 oracle, in one block or many",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 60 }),
        fc.integer({ min: 1, max: 10 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 70 }),
        fc.integer(),
        async (n, width, columns, blockRows, seed) => {
          const x = randomArray(n * width, seed);
          const gamma = 1 / width;
          // A budget of `blockRows` rows per block (quadratic forms use a little more per row).
          using engine = await GramEngine.create(gpu, x, width, { memoryBudget: 4 * n * blockRows });
          const k = gramOracle(x, x, width, gamma);
          for (let i = 0; i < n; i++) k[i * n + i] = 1;
          const sums = Float64Array.from(
            { length: n },
            (_, i) => k.subarray(i * n, (i + 1) * n).reduce((a, v) => a + v),
          );
          assertClose(await engine.rowSums(gamma), sums, n, "row sums");
          const picks = [n - 1, 0, Math.floor(n / 2)];
          const expectedRows = picks.flatMap((r) => Array.from(k.subarray(r * n, (r + 1) * n)));
          assertClose(await engine.rows(picks, gamma), expectedRows, width, "gram rows", 2);
          const w = randomArray(n * columns, seed + 1);
          const forms = Float64Array.from({ length: columns }, (_, p) => {
            let s = 0;
            for (let i = 0; i < n; i++) {
              for (let j = 0; j < n; j++) s += w[i * columns + p] * k[i * n + j] * w[j * columns + p];
            }
            return s;
          });
          assertClose(await engine.quadraticForms(w, columns, gamma), forms, n * n, "quadratic forms");
        },
      ),
      { numRuns: 25 },
    );
  },
});

Deno.test({
  name:
    "mmd: matches the float64 oracle; biased MMD^2 of a set with itself is 0; symmetric, >= 0, invariant to row order",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    await fc.assert(
      fc.asyncProperty(
        setArb,
        fc.double({ min: 0.3, max: 3, noNaN: true }),
        fc.integer(),
        async ([n, m, width], sigma, seed) => {
          const x = randomArray(n * width, seed);
          const y = randomArray(m * width, seed + 1).map((v, i) => v + (i % width === 0 ? 0.5 : 0));
          const options = { sigma, permutations: 0 };
          const xy = await mmd2(gpu, x, y, width, options);
          const expected = mmd2Oracle(x, y, width, gammaOf(sigma));
          assert.ok(Math.abs(xy.biased - expected.biased) < 2e-5, `biased ${xy.biased} vs ${expected.biased}`);
          assert.ok(
            Math.abs(xy.unbiased - expected.unbiased) < 2e-5,
            `unbiased ${xy.unbiased} vs ${expected.unbiased}`,
          );
          assert.ok(xy.biased >= 0);
          const yx = await mmd2(gpu, y, x, width, options);
          assert.ok(
            Math.abs(yx.biased - xy.biased) < 1e-6 && Math.abs(yx.unbiased - xy.unbiased) < 1e-6,
            "not symmetric",
          );
          const shuffled = await mmd2(
            gpu,
            permuteRows(x, width, seed),
            permuteRows(y, width, seed + 2),
            width,
            options,
          );
          assert.ok(
            Math.abs(shuffled.biased - xy.biased) < 1e-6,
            `row order changes MMD: ${shuffled.biased} vs ${xy.biased}`,
          );
          const self = await mmd2(gpu, x, x, width, options);
          assert.ok(Math.abs(self.biased) < 1e-6, `MMD^2(x, x) = ${self.biased}`);
        },
      ),
      { numRuns: 25 },
    );
  },
});

Deno.test({
  name: "mmd: the median heuristic is the median pairwise distance",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 2, max: 40 }),
        fc.integer({ min: 1, max: 6 }),
        fc.integer(),
        async (n, width, seed) => {
          const x = randomArray(n * width, seed);
          const d2 = gramOracle(x, x, width);
          const pairs = Array.from(d2).filter((_, i) => Math.floor(i / n) < i % n).sort((a, b) => a - b);
          const expected = Math.sqrt(pairs[Math.floor(pairs.length / 2)]);
          const sigma = await medianBandwidth(gpu, x, width);
          assert.ok(Math.abs(sigma - expected) < 1e-4 * Math.max(1, expected), `sigma ${sigma} vs ${expected}`);
        },
      ),
      { numRuns: 20 },
    );
  },
});

Deno.test({
  name:
    "mmd: permutation p-values are uniform under the null (Kolmogorov-Smirnov over 200 seeded nulls) and small under a shift",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    const width = 3, n = 7, m = 9, nulls = 200, permutations = 99;
    const pValues: number[] = [];
    for (let trial = 0; trial < nulls; trial++) {
      // Both sets from the same distribution: uniform in the cube, seeded per trial.
      const random = mulberry32(trial + 1);
      const draw = (rows: number) => Float32Array.from({ length: rows * width }, () => random());
      const result = await mmdTest(gpu, draw(n), draw(m), width, { permutations, seed: trial });
      pValues.push(result.pValue);
    }
    pValues.sort((a, b) => a - b);
    // The observed labelling counts as one of the permutations, so p is never below 1 / (P + 1).
    assert.ok(pValues[0] >= 1 / (permutations + 1), `p = ${pValues[0]}`);
    let ks = 0;
    pValues.forEach((p, i) => (ks = Math.max(ks, (i + 1) / nulls - p, p - i / nulls)));
    // Critical value of the KS statistic at alpha = 0.001 for 200 draws, 1.95 / sqrt(200) = 0.138,
    // plus the p-values' grid step 1 / (permutations + 1).
    assert.ok(ks < 0.138 + 1 / (permutations + 1), `KS distance ${ks} from uniform`);

    const random = mulberry32(999);
    const shifted = Float32Array.from({ length: 30 * width }, () => random() + 0.5);
    const same = Float32Array.from({ length: 30 * width }, () => random());
    const power = await mmdTest(gpu, same, shifted, width, { permutations: 199, seed: 3 });
    assert.ok(power.pValue <= 0.01, `p = ${power.pValue} for a shift of half the range`);
  },
});
