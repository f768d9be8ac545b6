/**
 * Dense weights larger than one storage binding: a device whose bindings are capped small
 * (`Gpu.create({ maxBindingBytes })`) forces a small dense layer through the blocked path, which
 * must match the float64 oracle, forward and both gradients; the row blocks must tile the weight
 * at aligned offsets; and a binding over the cap must be refused naming the kernel and binding.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { recordDense, recordDenseBackwardInput, recordDenseBackwardWeight } from "../kernels/dense_blocks.ts";
import { elementwiseKernel } from "../kernels/elementwise.ts";
import { GpuError } from "../kernels/errors.ts";
import { Gpu } from "../kernels/gpu.ts";
import { matmulKernel, recordMatmul } from "../kernels/matmul.ts";
import { rowBlocks } from "../kernels/tensor.ts";
import { gpuTest } from "./gpu_fixture.ts";
import { assertClose, matmulOracle, randomArray } from "./oracle.ts";

/**
 * 128 KiB bindings (the GEMM cores' own scratch needs some 64 KiB): a [2000, 24] weight (192,000
 * bytes) splits into rows 0-1343 and 1344-1999.
 */
const CAP = 131072;

let capped: Promise<Gpu> | null = null;
function cappedGpu(): Promise<Gpu> {
  capped ??= Gpu.create({ maxBindingBytes: CAP });
  return capped;
}

Deno.test("rowBlocks tiles the rows in order, each block within the limit and starting at an aligned byte", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 3000 }),
      fc.integer({ min: 1, max: 300 }),
      fc.integer({ min: 1, max: 1 << 20 }),
      fc.constantFrom(1, 64),
      (rows, rowSize, limit, multiple) => {
        let blocks: [number, number][];
        try {
          blocks = rowBlocks(rows, rowSize, limit, multiple);
        } catch (e) {
          // Refused only when not even the smallest aligned block fits.
          assert.match((e as Error).message, /exceed the \d+-byte binding limit/);
          assert.ok(rows * rowSize * 4 > limit);
          return;
        }
        let next = 0;
        for (const [first, count] of blocks) {
          assert.equal(first, next);
          assert.ok(count >= 1);
          if (blocks.length > 1) {
            assert.ok(count * rowSize * 4 <= limit, `block of ${count} rows over ${limit}`);
            assert.equal((first * rowSize * 4) % 256, 0, `block at row ${first}`);
            assert.equal(first % multiple, 0);
          }
          next = first + count;
        }
        assert.equal(next, rows);
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test({
  name: "dense forward, input and weight gradients through blocked weights match the float64 oracle",
  ...gpuTest,
  async fn() {
    const gpu = await cappedGpu();
    const kernels = { matmul: await matmulKernel(gpu), elementwise: await elementwiseKernel(gpu) };
    const M = 3, K = 24, N = 2000;
    const x = randomArray(M * K, 1), w = randomArray(N * K, 2), b = randomArray(N, 3), dy = randomArray(M * N, 4);
    using tx = gpu.tensor([M, K], x);
    using tw = gpu.tensor([N, K], w);
    using tb = gpu.tensor([N], b);
    using tdy = gpu.tensor([M, N], dy);
    using ty = gpu.tensor([M, N]);
    using tdx = gpu.tensor([M, K]);
    using tdw = gpu.tensor([N, K]);
    await gpu.run((step) => {
      recordDense(step, kernels, { x: tx, weight: tw, bias: tb, y: ty });
      recordDenseBackwardInput(step, kernels, { dy: tdy, weight: tw, dx: tdx });
      recordDenseBackwardWeight(step, kernels, { dy: tdy, x: tx, dweight: tdw });
    });
    const y = matmulOracle(x, w, M, N, K, false, true).map((v, i) => v + b[i % N]);
    assertClose(await gpu.read(ty), y, K, "y = x W^T + b");
    assertClose(await gpu.read(tdx), matmulOracle(dy, w, M, K, N), N, "dx = dy W");
    assertClose(await gpu.read(tdw), matmulOracle(dy, x, N, K, M, true), M, "dW = dy^T x");
  },
});

Deno.test({
  name: "a binding over the limit is refused naming the kernel and the binding, before anything is submitted",
  ...gpuTest,
  async fn() {
    const gpu = await cappedGpu();
    const matmul = await matmulKernel(gpu);
    using a = gpu.tensor([3, 24]);
    using b = gpu.tensor([2000, 24]);
    using c = gpu.tensor([3, 2000]);
    await assert.rejects(
      gpu.run((step) => recordMatmul(step, matmul, { a, b, c, M: 3, N: 2000, K: 24, transB: true })),
      (e: Error) => {
        assert.ok(e instanceof GpuError);
        assert.equal(e.binding, "b");
        assert.match(e.kernel, /^matmul/);
        assert.match(e.message, /\[2000,24\] spans 192,000 bytes, over the 131,072-byte storage binding limit/);
        return true;
      },
    );
  },
});
