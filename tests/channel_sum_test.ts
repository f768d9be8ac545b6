import fc from "fast-check";
import { channelSumKernel, recordChannelSum } from "../kernels/channel_sum.ts";
import { assertClose, randomArray } from "./oracle.ts";
import { channelShapeArb, channelSumOracle } from "./ops_oracle.ts";
import { gpuTest, testGpu } from "./gpu_fixture.ts";

const shapeArb = channelShapeArb([600, 40], [4, 12, 23, 23]);

Deno.test({
  name: "channel sums (plain, product, centered product) match the float64 oracle on NCHW and [B, C]",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    const kernel = await channelSumKernel(gpu);
    await fc.assert(
      fc.asyncProperty(shapeArb, fc.integer(), async (shape, seed) => {
        const size = shape.reduce((x, y) => x * y, 1);
        const C = shape[1];
        const a = randomArray(size, seed), b = randomArray(size, seed + 1), center = randomArray(C, seed + 2);
        using ta = gpu.tensor(shape, a);
        using tb = gpu.tensor(shape, b);
        using tcenter = gpu.tensor([C], center);
        using plain = gpu.tensor([C]);
        using product = gpu.tensor([C]);
        using centered = gpu.tensor([C]);
        await gpu.run((s) => {
          recordChannelSum(s, kernel, { a: ta, out: plain });
          recordChannelSum(s, kernel, { a: ta, b: tb, out: product });
          recordChannelSum(s, kernel, { a: ta, b: tb, center: tcenter, out: centered });
        });
        const n = size / C;
        assertClose(await gpu.read(plain), channelSumOracle(a, shape), n, `sum [${shape}]`);
        assertClose(await gpu.read(product), channelSumOracle(a, shape, b), n, `product sum [${shape}]`);
        assertClose(await gpu.read(centered), channelSumOracle(a, shape, b, center), n, `centered [${shape}]`, 2);
      }),
      { numRuns: 20 },
    );
  },
});
