import fc from "fast-check";
import { type OptimizerConfig, optimizerKernel, recordOptimizerStep } from "../kernels/optimizer.ts";
import { gpuTest, testGpu } from "./gpu_fixture.ts";
import { assertClose, randomArray } from "./oracle.ts";

/** Float64 reference of `steps` optimiser updates with the same gradient sequence. */
function optimizerOracle(w0: Float32Array, grads: Float32Array[], config: OptimizerConfig): Float64Array {
  const w = Float64Array.from(w0);
  const m = new Float64Array(w.length), v = new Float64Array(w.length);
  grads.forEach((g, step) => {
    const t = step + 1;
    for (let i = 0; i < w.length; i++) {
      if (config.kind === "sgd") {
        m[i] = config.momentum * m[i] + g[i] + config.weightDecay * w[i];
        w[i] -= config.lr * m[i];
      } else {
        m[i] = config.beta1 * m[i] + (1 - config.beta1) * g[i];
        v[i] = config.beta2 * v[i] + (1 - config.beta2) * g[i] * g[i];
        const mHat = m[i] / (1 - config.beta1 ** t), vHat = v[i] / (1 - config.beta2 ** t);
        w[i] -= config.lr * (mHat / (Math.sqrt(vHat) + config.eps) + config.weightDecay * w[i]);
      }
    }
  });
  return w;
}

const configArb: fc.Arbitrary<OptimizerConfig> = fc.oneof(
  fc.record({
    kind: fc.constant("sgd" as const),
    lr: fc.double({ min: 1e-3, max: 0.5, noNaN: true }),
    momentum: fc.double({ min: 0, max: 0.99, noNaN: true }),
    weightDecay: fc.double({ min: 0, max: 0.01, noNaN: true }),
  }),
  fc.record({
    kind: fc.constant("adam" as const),
    lr: fc.double({ min: 1e-4, max: 0.05, noNaN: true }),
    beta1: fc.double({ min: 0.5, max: 0.95, noNaN: true }),
    beta2: fc.double({ min: 0.9, max: 0.9999, noNaN: true }),
    eps: fc.constant(1e-8),
    weightDecay: fc.double({ min: 0, max: 0.01, noNaN: true }),
  }),
);

Deno.test({
  name: "optimizer kernel (SGD with momentum, Adam) matches the float64 update over several steps",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    const kernel = await optimizerKernel(gpu);
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 700 }),
        fc.integer({ min: 1, max: 4 }),
        configArb,
        fc.integer(),
        async (n, steps, config, seed) => {
          const w0 = randomArray(n, seed);
          const grads = Array.from({ length: steps }, (_, s) => randomArray(n, seed + 17 * (s + 1)));
          using weight = gpu.tensor([n], w0);
          using first = gpu.zeros([n]);
          using second = gpu.zeros([n]);
          for (let s = 0; s < steps; s++) {
            using grad = gpu.tensor([n], grads[s]);
            await gpu.run((step) =>
              recordOptimizerStep(step, kernel, { weight, grad, first, second, t: s + 1, config })
            );
          }
          assertClose(
            await gpu.read(weight),
            optimizerOracle(w0, grads, config),
            steps,
            `${config.kind} after ${steps} steps`,
            10,
          );
        },
      ),
      { numRuns: 25 },
    );
  },
});
