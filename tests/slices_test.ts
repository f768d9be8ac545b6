/**
 * The slice search on synthetic features: a planted cluster of mistakes is recovered and tested
 * significant on the holdout half; mistakes scattered with no structure give no significant slice
 * (the holdout half never chose the slice it tests). The Wilson interval against published values.
 */
import assert from "node:assert/strict";
import { findSlices, wilsonInterval } from "../pipeline/bias/slices.ts";
import { mulberry32 } from "../pipeline/io/prng.ts";
import { gpuTest, testGpu } from "./gpu_fixture.ts";

const WIDTH = 4;

/** `n` rows near the origin, the first `planted` of them shifted by 3 in every coordinate. */
function rows(n: number, planted: number, seed: number): Float32Array {
  const random = mulberry32(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  return Float32Array.from({ length: n * WIDTH }, (_, i) => gauss() + (Math.floor(i / WIDTH) < planted ? 3 : 0));
}

Deno.test("Wilson interval: published values (binom.wilson in R's binom package)", () => {
  const close = (a: [number, number], b: [number, number]) => a.every((v, i) => Math.abs(v - b[i]) < 1e-4);
  assert.ok(close(wilsonInterval(5, 10), [0.2366, 0.7634]), String(wilsonInterval(5, 10)));
  assert.ok(close(wilsonInterval(0, 10), [0, 0.2775]), String(wilsonInterval(0, 10)));
  assert.ok(close(wilsonInterval(10, 10), [0.7225, 1]), String(wilsonInterval(10, 10)));
});

Deno.test({
  name: "slices: a planted cluster of mistakes is found and significant on the holdout half",
  ...gpuTest,
  async fn() {
    const n = 400, planted = 40, random = mulberry32(5);
    const mistakes = Uint8Array.from({ length: n }, (_, r) => (random() < (r < planted ? 0.7 : 0.02) ? 1 : 0));
    const slices = await findSlices(await testGpu(), {
      features: rows(n, planted, 9),
      width: WIDTH,
      mistakes,
      criticisms: [],
      sigma: 1.5,
    }, { seed: 3 });
    const top = slices[0];
    const fromCluster = top.members.filter((m) => m < planted).length;
    assert.ok(fromCluster >= 0.8 * top.members.length && fromCluster >= 0.6 * planted, JSON.stringify(top.slice));
    assert.ok(top.pValue < 1e-4, `holdout p ${top.pValue}`);
    assert.equal(top.holdout.slice.size + top.holdout.rest.size, n - n / 2, "the holdout is the other half");
    assert.equal(top.slice.size + top.rest.size, n);
  },
});

Deno.test({
  name: "slices: scattered mistakes with no structure give no slice significant on the holdout half (20 seeded nulls)",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    const pValues: number[] = [];
    for (let run = 0; run < 20; run++) {
      const random = mulberry32(100 + run), n = 200;
      const mistakes = Uint8Array.from({ length: n }, () => (random() < 0.1 ? 1 : 0));
      const slices = await findSlices(gpu, {
        features: rows(n, 0, run),
        width: WIDTH,
        mistakes,
        criticisms: [0, 1],
        sigma: 1.5,
      }, {
        seed: run,
      });
      pValues.push(...slices.map((s) => s.pValue));
    }
    assert.ok(pValues.length >= 20, `${pValues.length} slices`);
    // Bonferroni over every slice tested: a valid holdout test keeps all above 0.01 / count.
    assert.ok(
      Math.min(...pValues) * pValues.length >= 0.01,
      `smallest holdout p ${Math.min(...pValues)} of ${pValues.length}`,
    );
  },
});
