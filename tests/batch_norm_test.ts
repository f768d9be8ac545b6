import fc from "fast-check";
import {
  batchNormKernels,
  recordBatchNorm,
  recordBatchNormBackward,
  recordBatchNormParamGrads,
} from "../kernels/batch_norm.ts";
import { assertClose, randomArray } from "./oracle.ts";
import {
  assertGradientMatches,
  batchNormBackwardOracle,
  batchNormOracle,
  type BatchNormParams,
  channelShapeArb,
  dot,
} from "./ops_oracle.ts";
import { gpuTest, testGpu } from "./gpu_fixture.ts";
import { sizeOf } from "../pipeline/io/size_of.ts";

const shapeArb = channelShapeArb([40, 20], [3, 8, 13, 13]);

/** Random statistics and parameters for C channels; variances in [0.1, 1.1). */
function randomParams(C: number, seed: number): BatchNormParams {
  return {
    mean: randomArray(C, seed),
    variance: randomArray(C, seed + 1).map((v) => Math.abs(v) + 0.1),
    gamma: randomArray(C, seed + 2),
    beta: randomArray(C, seed + 3),
    eps: 1e-5,
  };
}

Deno.test({
  name: "batch norm forward, input gradient and gamma/beta gradients match the float64 oracle",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    const kernels = await batchNormKernels(gpu);
    await fc.assert(
      fc.asyncProperty(shapeArb, fc.integer(), async (shape, seed) => {
        const size = sizeOf(shape), C = shape[1];
        const p = randomParams(C, seed);
        const x = randomArray(size, seed + 4), dy = randomArray(size, seed + 5);
        using tx = gpu.tensor(shape, x);
        using tdy = gpu.tensor(shape, dy);
        using mean = gpu.tensor([C], p.mean);
        using variance = gpu.tensor([C], p.variance);
        using gamma = gpu.tensor([C], p.gamma);
        using beta = gpu.tensor([C], p.beta);
        using y = gpu.tensor(shape);
        using dx = gpu.tensor(shape);
        using dgamma = gpu.tensor([C]);
        using dbeta = gpu.tensor([C]);
        await gpu.run((s) => {
          recordBatchNorm(s, kernels, { x: tx, mean, variance, gamma, beta, eps: p.eps, y });
          recordBatchNormBackward(s, kernels, { dy: tdy, variance, gamma, eps: p.eps, dx });
          recordBatchNormParamGrads(s, kernels, { x: tx, dy: tdy, mean, variance, eps: p.eps, dgamma, dbeta });
        });
        const expected = batchNormBackwardOracle(x, dy, shape, p);
        const n = size / C;
        // Values are scaled by up to 1 / sqrt(0.1) ~ 3.2 (times |x - mean| <= 2 for the forward).
        assertClose(await gpu.read(y), batchNormOracle(x, shape, p), 1, `batch norm [${shape}]`, 8);
        assertClose(await gpu.read(dx), expected.dx, 1, `batch norm dx [${shape}]`, 4);
        assertClose(await gpu.read(dgamma), expected.dgamma, n, `batch norm dgamma [${shape}]`, 8);
        assertClose(await gpu.read(dbeta), expected.dbeta, n, `batch norm dbeta [${shape}]`);
      }),
      { numRuns: 20 },
    );
  },
});

Deno.test("batch norm backward oracle matches finite differences in x, gamma and beta", () => {
  fc.assert(
    fc.property(shapeArb, fc.integer(), (shape, seed) => {
      const size = sizeOf(shape), C = shape[1];
      const p = randomParams(C, seed);
      const x = randomArray(size, seed + 4), cot = randomArray(size, seed + 5);
      const { dx, dgamma, dbeta } = batchNormBackwardOracle(x, cot, shape, p);
      const loss = (xs: ArrayLike<number>, q: BatchNormParams) => dot(batchNormOracle(xs, shape, q), cot);
      const what = `batch norm [${shape}]`;
      assertGradientMatches((v) => loss(v, p), x, dx, `${what} x`, { seed });
      assertGradientMatches((v) => loss(x, { ...p, gamma: v }), p.gamma, dgamma, `${what} gamma`, { seed });
      assertGradientMatches((v) => loss(x, { ...p, beta: v }), p.beta, dbeta, `${what} beta`, { seed });
    }),
    { numRuns: 30 },
  );
});
