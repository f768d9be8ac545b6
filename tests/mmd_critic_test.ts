import assert from "node:assert/strict";
import fc from "fast-check";
import { gammaOf } from "../pipeline/bias/mmd.ts";
import { mmdCritic } from "../pipeline/bias/mmd_critic.ts";
import { mulberry32 } from "../pipeline/io/prng.ts";
import { gpuTest, testGpu } from "./gpu_fixture.ts";
import { gramOracle, prototypeObjectiveOracle } from "./mmd_oracle.ts";

/** Rows drawn around `centers` (one per cluster) with the given share of rows per cluster. */
function mixture(n: number, width: number, centers: number[][], shares: number[], spread: number, seed: number) {
  const random = mulberry32(seed);
  const cluster = new Int32Array(n);
  const rows = new Float32Array(n * width);
  for (let i = 0; i < n; i++) {
    let u = random(), c = 0;
    while (c < shares.length - 1 && u >= shares[c]) u -= shares[c++];
    cluster[i] = c;
    for (let k = 0; k < width; k++) rows[i * width + k] = centers[c][k] + spread * (2 * random() - 1);
  }
  return { rows, cluster };
}

/** log det of the Gram restricted to `set`, by Gaussian elimination in float64. */
function logDet(k: Float64Array, n: number, set: number[]): number {
  const m = set.length;
  const a = set.flatMap((i) => set.map((j) => k[i * n + j]));
  let sum = 0;
  for (let p = 0; p < m; p++) {
    const pivot = a[p * m + p];
    if (!(pivot > 0)) return -Infinity;
    sum += Math.log(pivot);
    for (let r = p + 1; r < m; r++) {
      const f = a[r * m + p] / pivot;
      for (let c = p; c < m; c++) a[r * m + c] -= f * a[p * m + c];
    }
  }
  return sum;
}

/** Each criticism maximises |witness| + log det gain among the rows left, by the float64 oracle. */
function assertGreedyCriticisms(k: Float64Array, n: number, prototypes: number[], criticisms: number[], want: number) {
  assert.equal(criticisms.length, want, "criticism count");
  const witness = (c: number) => {
    let a = 0, b = 0;
    for (let i = 0; i < n; i++) a += k[i * n + c] / n;
    for (const p of prototypes) b += k[p * n + c] / prototypes.length;
    return a - b;
  };
  criticisms.forEach((pick, t) => {
    const before = criticisms.slice(0, t);
    const logGain = (c: number) => logDet(k, n, [...before, c]) - logDet(k, n, before);
    const score = (c: number) => Math.abs(witness(c)) + logGain(c);
    // The picks see a float32 Gram: its ~1e-6 error in a Schur complement d moves log d by ~1e-6 / d,
    // so near-duplicate rows (tiny d) cannot be ranked more finely than that.
    const tolerance = (c: number) => 1e-3 + 1e-5 / Math.min(Math.exp(logGain(c)), Math.exp(logGain(pick)));
    assert.ok(!prototypes.includes(pick) && !before.includes(pick), `criticism ${pick} repeats a pick`);
    for (let c = 0; c < n; c++) {
      if (prototypes.includes(c) || before.includes(c) || !(score(c) > score(pick) + tolerance(c))) continue;
      assert.fail(`criticism ${t}: row ${c} scores ${score(c)} > ${score(pick)} of row ${pick}`);
    }
  });
}

Deno.test({
  name:
    "mmd-critic: greedy prototype gains never increase, each pick is the best available (prototypes and criticisms), and the objective is J",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 5, max: 60 }),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 0, max: 4 }),
        fc.double({ min: 0.05, max: 2, noNaN: true }),
        fc.integer(),
        async (n, width, clusters, want, critics, sigma, seed) => {
          const random = mulberry32(seed);
          const centers = Array.from({ length: clusters }, () => Array.from({ length: width }, () => 3 * random()));
          const shares = Array.from({ length: clusters }, () => random() + 0.05);
          const total = shares.reduce((a, b) => a + b);
          const { rows } = mixture(n, width, centers, shares.map((s) => s / total), 0.5, seed);
          const result = await mmdCritic(gpu, rows, width, { prototypes: want, criticisms: critics, sigma });
          const M = Math.min(want, n);
          assert.equal(result.prototypes.length, M);
          assert.equal(new Set(result.prototypes).size, M, "a prototype is picked twice");
          for (let t = 1; t < M; t++) {
            assert.ok(
              result.prototypeGains[t] <= result.prototypeGains[t - 1],
              `gain ${t} rises: ${result.prototypeGains}`,
            );
          }
          // Against the float64 oracle: F(S) = J(S) |S|^2 / M^2 + (terms of the same form) — computed directly.
          const k = gramOracle(rows, rows, width, gammaOf(sigma));
          const F = (set: number[]) => {
            let cross = 0, within = 0;
            for (const j of set) {
              for (let i = 0; i < n; i++) cross += k[i * n + j];
              for (const l of set) within += k[j * n + l];
            }
            return (2 * cross) / (n * M) - within / (M * M);
          };
          for (let t = 0; t < M; t++) {
            const before = result.prototypes.slice(0, t);
            const gain = F([...before, result.prototypes[t]]) - F(before);
            assert.ok(
              Math.abs(gain - result.prototypeGains[t]) < 1e-4,
              `gain ${t}: ${result.prototypeGains[t]} vs ${gain}`,
            );
            for (let c = 0; c < n; c++) {
              if (before.includes(c)) continue;
              const other = F([...before, c]) - F(before);
              assert.ok(other <= gain + 1e-4, `pick ${t}: candidate ${c} gains ${other} > ${gain}`);
            }
          }
          const J = prototypeObjectiveOracle(k, n, result.prototypes);
          assert.ok(Math.abs(J - result.objective) < 1e-4, `objective ${result.objective} vs J ${J}`);
          assertGreedyCriticisms(k, n, result.prototypes, result.criticisms, Math.min(critics, n - M));
        },
      ),
      { numRuns: 30 },
    );
  },
});

Deno.test({
  name: "mmd-critic: prototypes of a well-separated two-cluster mixture include both clusters",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 40, max: 300 }),
        fc.integer({ min: 2, max: 16 }),
        fc.double({ min: 0.2, max: 0.8, noNaN: true }),
        fc.integer(),
        async (n, width, share, seed) => {
          const centers = [new Array(width).fill(0), new Array(width).fill(4)];
          const { rows, cluster } = mixture(n, width, centers, [share, 1 - share], 1, seed);
          const result = await mmdCritic(gpu, rows, width, { prototypes: 8, criticisms: 0 });
          const covered = new Set(result.prototypes.map((p) => cluster[p]));
          assert.deepEqual(
            [...covered].sort(),
            [0, 1],
            `prototypes ${result.prototypes} cover clusters ${[...covered]}`,
          );
        },
      ),
      { numRuns: 15 },
    );
  },
});

Deno.test({
  name: "mmd-critic: the log-det term spreads criticisms over distinct groups instead of near-copies",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    // Four far-apart groups of near-copies: 40 (A), 30 (B), 4 (C), 3 (D). Two prototypes go to A
    // and B; B is then over-represented (witness 30/77 - 1/2 = -0.11), C under (4/77 = 0.05).
    const sizes = [40, 30, 4, 3];
    const rows = new Float32Array(77 * 2);
    let r = 0;
    sizes.forEach((size, g) => {
      for (let i = 0; i < size; i++, r++) rows.set([10 * g + 1e-3 * i, 0], 2 * r);
    });
    const group = (row: number) => (row < 40 ? "A" : row < 70 ? "B" : row < 74 ? "C" : "D");
    const options = { prototypes: 2, criticisms: 2, sigma: 1 };
    const plain = await mmdCritic(gpu, rows, 2, { ...options, regularizer: "none" });
    const diverse = await mmdCritic(gpu, rows, 2, options);
    assert.deepEqual(plain.prototypes.map(group).sort(), ["A", "B"]);
    assert.deepEqual(plain.criticisms.map(group), ["B", "B"], `without the log-det: ${plain.criticisms}`);
    assert.deepEqual(diverse.criticisms.map(group), ["B", "C"], `with the log-det: ${diverse.criticisms}`);
    assert.ok(diverse.criticismWitness[0] < 0 && diverse.criticismWitness[1] > 0, `${diverse.criticismWitness}`);
  },
});
