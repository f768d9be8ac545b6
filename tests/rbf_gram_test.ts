import assert from "node:assert/strict";
import fc from "fast-check";
import { GEMM_CORES } from "../kernels/gemm.ts";
import { rbfGramKernels, recordGram, recordRowNorms } from "../kernels/rbf_gram.ts";
import { gpuTest, testGpu } from "./gpu_fixture.ts";
import { gramOracle } from "./mmd_oracle.ts";
import { assertClose, randomArray } from "./oracle.ts";

for (const core of GEMM_CORES) {
  Deno.test({
    name: `rbf gram (${core} GEMM core): a row block of distances and RBF values matches the float64 oracle`,
    ...gpuTest,
    async fn() {
      const gpu = await testGpu();
      const kernels = await rbfGramKernels(gpu, core);
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 1, max: 40 }),
          fc.integer({ min: 1, max: 150 }),
          fc.integer({ min: 1, max: 33 }),
          fc.double({ min: 0, max: 1, noNaN: true }),
          fc.integer({ min: 1, max: 40 }),
          fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 1, max: 200 })),
          fc.boolean(),
          fc.integer(),
          async (n, m, width, start, rowCount, [colStart, colCount], self, seed) => {
            const x = randomArray(n * width, seed);
            const y = self ? x : randomArray(m * width, seed + 1);
            const cols = self ? n : m;
            const rowOffset = Math.min(n - 1, Math.floor(start * n));
            const rows = Math.min(rowCount, n - rowOffset);
            const colOffset = Math.min(cols - 1, Math.floor(colStart * cols));
            const blockCols = Math.min(colCount, cols - colOffset);
            const gamma = 1 / width;
            const yT = Float32Array.from(
              { length: cols * width },
              (_, i) => y[(i % cols) * width + Math.floor(i / cols)],
            );
            using tx = gpu.tensor([n, width], x);
            using ty = gpu.tensor([cols, width], y);
            using tyT = gpu.tensor([width, cols], yT);
            using nx = gpu.tensor([n]);
            using ny = gpu.tensor([cols]);
            using dist = gpu.tensor([rows, blockCols]);
            using rbf = gpu.tensor([rows, blockCols]);
            await gpu.run((s) => {
              recordRowNorms(s, kernels, { x: tx, out: nx });
              recordRowNorms(s, kernels, { x: ty, out: ny });
              const common = { x: tx, yT: tyT, xNorm: nx, yNorm: ny, rowOffset, rows, colOffset, cols: blockCols };
              recordGram(s, kernels, { ...common, out: dist, symmetric: self });
              recordGram(s, kernels, { ...common, out: rbf, gamma, symmetric: self });
            });
            const block = x.subarray(rowOffset * width, (rowOffset + rows) * width);
            const columns = y.subarray(colOffset * width, (colOffset + blockCols) * width);
            // Distances are differences of norms up to `width`, so the error scales with them.
            const what = `rows ${rowOffset}+${rows} of [${n}, ${width}], columns ${colOffset}+${blockCols} of ${cols}`;
            const d2 = gramOracle(block, columns, width);
            assertClose(await gpu.read(dist), d2, width, `distances ${what}`, width);
            assertClose(await gpu.read(rbf), d2.map((v) => Math.exp(-gamma * v)), width, `rbf ${what}`, 2);
            if (self) {
              const diagonal = [...await gpu.read(rbf)].filter((_, i) =>
                rowOffset + Math.floor(i / blockCols) === colOffset + (i % blockCols)
              );
              assert.ok(diagonal.every((v) => v === 1), `k(x, x) is not exactly 1: ${diagonal}`);
            }
          },
        ),
        { numRuns: 25 },
      );
    },
  });
}
