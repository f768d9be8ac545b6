import fc from "fast-check";
import { GEMM_CORES } from "../kernels/gemm.ts";
import { matmulKernel, recordMatmul } from "../kernels/matmul.ts";
import { assertClose, matmulOracle, randomArray } from "./oracle.ts";
import { gpuTest, testGpu } from "./gpu_fixture.ts";

for (const core of GEMM_CORES) {
  Deno.test({
    name: `matmul (${core} GEMM core) matches the float64 oracle on random shapes, transposes and bias`,
    ...gpuTest,
    async fn() {
      const gpu = await testGpu();
      const kernel = await matmulKernel(gpu, core);
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 1, max: 70 }),
          fc.integer({ min: 1, max: 70 }),
          fc.integer({ min: 1, max: 40 }),
          fc.boolean(),
          fc.boolean(),
          fc.boolean(),
          fc.integer(),
          async (M, N, K, transA, transB, withBias, seed) => {
            const a = randomArray(M * K, seed);
            const b = randomArray(K * N, seed + 1);
            const bias = randomArray(N, seed + 2);
            using ta = gpu.tensor(transA ? [K, M] : [M, K], a);
            using tb = gpu.tensor(transB ? [N, K] : [K, N], b);
            using tbias = gpu.tensor([N], bias);
            using tc = gpu.tensor([M, N]);
            await gpu.run((s) =>
              recordMatmul(s, kernel, {
                a: ta,
                b: tb,
                c: tc,
                bias: withBias ? tbias : undefined,
                M,
                N,
                K,
                transA,
                transB,
              })
            );
            const expected = matmulOracle(a, b, M, N, K, transA, transB);
            if (withBias) { for (let i = 0; i < M * N; i++) expected[i] += bias[i % N]; }
            assertClose(await gpu.read(tc), expected, K, `matmul ${M}x${N}x${K}`);
          },
        ),
        { numRuns: 25 },
      );
    },
  });
}

for (const core of GEMM_CORES) {
  Deno.test({
    name: `matmul (${core} GEMM core) matches the float64 oracle with K longer than one window of the window core`,
    ...gpuTest,
    async fn() {
      const gpu = await testGpu();
      const kernel = await matmulKernel(gpu, core);
      // K = 2100 takes several windows (first, middle, last) in both window shapes: M = 20 is one
      // 32-row tile with K in five windows of 420; M = 40 is three 16-row tiles (32-row ones would
      // pad it to 64) with K in three windows of 700.
      const N = 600, K = 2100;
      for (const [M, transA, transB] of [[20, false, false], [20, true, true], [40, false, true]] as const) {
        const a = randomArray(M * K, 7), b = randomArray(K * N, 8), bias = randomArray(N, 9);
        using ta = gpu.tensor(transA ? [K, M] : [M, K], a);
        using tb = gpu.tensor(transB ? [N, K] : [K, N], b);
        using tbias = gpu.tensor([N], bias);
        using tc = gpu.tensor([M, N]);
        await gpu.run((s) => recordMatmul(s, kernel, { a: ta, b: tb, c: tc, bias: tbias, M, N, K, transA, transB }));
        const expected = matmulOracle(a, b, M, N, K, transA, transB);
        for (let i = 0; i < M * N; i++) expected[i] += bias[i % N];
        assertClose(await gpu.read(tc), expected, K, `matmul ${M}x${N}x${K} transA ${transA} transB ${transB}`);
      }
    },
  });
}
