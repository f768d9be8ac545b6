import assert from "node:assert/strict";
import fc from "fast-check";
import {
  type ChannelReduce,
  recordSaliencyMap,
  recordSaliencySamples,
  recordSampleSum,
  saliencyKernels,
} from "../kernels/saliency.ts";
import { gpuTest, testGpu } from "./gpu_fixture.ts";
import { assertClose, randomArray } from "./oracle.ts";
import { sizeOf } from "../pipeline/io/size_of.ts";

const REDUCERS: Record<ChannelReduce, (values: number[]) => number> = {
  maxAbs: (v) => Math.max(...v.map(Math.abs)),
  sumAbs: (v) => v.reduce((s, a) => s + Math.abs(a), 0),
  sum: (v) => v.reduce((s, a) => s + a, 0),
  l2: (v) => Math.sqrt(v.reduce((s, a) => s + a * a, 0)),
};

Deno.test({
  name: "saliency kernels: path samples, sample sums and channel-reduced maps match float64 oracles",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    const kernels = await saliencyKernels(gpu);
    await fc.assert(
      fc.asyncProperty(
        fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 9 })),
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 0, max: 8 }),
        fc.constantFrom<ChannelReduce>("maxAbs", "sumAbs", "sum", "l2"),
        fc.boolean(),
        fc.integer(),
        async ([batch, channels, side], total, firstRaw, reduce, multiply, seed) => {
          const shape = [batch, channels, side, side + 1];
          const size = sizeOf(shape), plane = side * (side + 1);
          const first = Math.min(firstRaw, total - 1), samples = total - first;
          const x = randomArray(size, seed), base = randomArray(size, seed + 1), g = randomArray(size, seed + 2);
          using tx = gpu.tensor(shape, x);
          using tbase = gpu.tensor(shape, base);
          using tg = gpu.tensor(shape, g);
          using path = gpu.tensor([samples * size]);
          using acc = gpu.tensor(shape, randomArray(size, seed + 3));
          using map = gpu.tensor([batch, plane]);
          await gpu.run((s) => {
            const mode = { kind: "path" as const, base: tbase };
            recordSaliencySamples(s, kernels, {
              x: tx,
              out: path,
              firstSample: first,
              samples,
              totalSamples: total,
              mode,
            });
            recordSampleSum(s, kernels, { g: path, acc, samples, scale: 0.5 });
            recordSaliencyMap(s, kernels, {
              g: tg,
              out: map,
              reduce,
              times: multiply ? { x: tx, base: tbase } : undefined,
            });
          });
          const expectedPath = new Float64Array(samples * size);
          const expectedAcc = Float64Array.from(randomArray(size, seed + 3));
          for (let k = 0; k < samples; k++) {
            const alpha = (first + k + 0.5) / total;
            for (let i = 0; i < size; i++) {
              const v = base[i] + alpha * (x[i] - base[i]);
              expectedPath[k * size + i] = v;
              expectedAcc[i] += 0.5 * v;
            }
          }
          assertClose(await gpu.read(path), expectedPath, 1, "path samples");
          assertClose(await gpu.read(acc), expectedAcc, samples, "sample sum");
          const expectedMap = new Float64Array(batch * plane);
          for (let b = 0; b < batch; b++) {
            for (let q = 0; q < plane; q++) {
              const values = [];
              for (let c = 0; c < channels; c++) {
                const i = (b * channels + c) * plane + q;
                values.push(g[i] * (multiply ? x[i] - base[i] : 1));
              }
              expectedMap[b * plane + q] = REDUCERS[reduce](values);
            }
          }
          assertClose(await gpu.read(map), expectedMap, channels, `${reduce} map`);
        },
      ),
      { numRuns: 30 },
    );
  },
});

Deno.test({
  name: "saliency kernels: SmoothGrad noise is N(0, sigma^2) and the same however the samples are chunked",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    const kernels = await saliencyKernels(gpu);
    const count = 5000, total = 4, sigma = 0.3;
    const x = randomArray(count, 9);
    using tx = gpu.tensor([count], x);
    using whole = gpu.tensor([total * count]);
    using firstHalf = gpu.tensor([2 * count]);
    using secondHalf = gpu.tensor([2 * count]);
    const mode = { kind: "noise" as const, sigma, seed: 77 };
    await gpu.run((s) => {
      recordSaliencySamples(s, kernels, {
        x: tx,
        out: whole,
        firstSample: 0,
        samples: total,
        totalSamples: total,
        mode,
      });
      recordSaliencySamples(s, kernels, {
        x: tx,
        out: firstHalf,
        firstSample: 0,
        samples: 2,
        totalSamples: total,
        mode,
      });
      recordSaliencySamples(s, kernels, {
        x: tx,
        out: secondHalf,
        firstSample: 2,
        samples: 2,
        totalSamples: total,
        mode,
      });
    });
    const all = await gpu.read(whole);
    assert.deepEqual(
      [...await gpu.read(firstHalf), ...await gpu.read(secondHalf)],
      [...all],
      "chunking changes the noise",
    );
    const z = Float64Array.from(all, (v, i) => (v - x[i % count]) / sigma);
    const mean = z.reduce((a, b) => a + b, 0) / z.length;
    const variance = z.reduce((a, b) => a + (b - mean) ** 2, 0) / z.length;
    const within1 = z.filter((v) => Math.abs(v) < 1).length / z.length;
    // 20,000 draws: standard errors about 0.007 (mean), 0.01 (variance), 0.003 (share within 1 sigma).
    assert.ok(Math.abs(mean) < 0.04, `mean ${mean}`);
    assert.ok(Math.abs(variance - 1) < 0.05, `variance ${variance}`);
    assert.ok(Math.abs(within1 - 0.6827) < 0.015, `share within one sigma ${within1}`);
    const correlation = z.slice(0, count).reduce((a, v, i) => a + v * z[count + i], 0) / count;
    assert.ok(Math.abs(correlation) < 0.06, `samples 0 and 1 correlate: ${correlation}`);
  },
});
