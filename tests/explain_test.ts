import assert from "node:assert/strict";
import fc from "fast-check";
import { Executor } from "../pipeline/model/executor.ts";
import { collectFeatures, defaultFeatureNode } from "../pipeline/explain/features.ts";
import { averageRanks, spearman } from "../pipeline/explain/rank.ts";
import { cascadingRandomization, randomisedLayers } from "../pipeline/explain/sanity.ts";
import { InputError } from "../pipeline/io/input_error.ts";
import { linearModel, randomConvnet, randomImages } from "./explain_fixture.ts";
import { gpuTest, testGpu } from "./gpu_fixture.ts";
import { graphForwardOracle } from "./graph_oracle.ts";
import { assertClose } from "./oracle.ts";

/** Ranks by counting (O(n^2)): 1 + smaller values + half the other equal values. */
function naiveRanks(values: number[]): number[] {
  return values.map((v) => 1 + values.filter((w) => w < v).length + (values.filter((w) => w === v).length - 1) / 2);
}

Deno.test("rank: average ranks match counting; Spearman is 1 for monotone maps, -1 reversed, symmetric", () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: -5, max: 5 }), { minLength: 2, maxLength: 40 }), (values) => {
      assert.deepEqual([...averageRanks(values)], naiveRanks(values));
      if (new Set(values).size < 2) return;
      const monotone = values.map((v) => Math.exp(v) + 3);
      assert.ok(Math.abs(spearman(values, monotone) - 1) < 1e-12);
      assert.ok(Math.abs(spearman(values, values.map((v) => -v)) + 1) < 1e-12);
      const other = values.map((v, i) => (v * 7 + i * 3) % 5);
      assert.equal(spearman(values, other), spearman(other, values));
    }),
  );
  assert.equal(spearman([1, 1, 1], [1, 2, 3]), 0, "a constant map has no ordering");
});

async function* examples(images: Float32Array, count: number, per: number) {
  for (let i = 0; i < count; i++) {
    yield { index: 100 + i, image: images.subarray(i * per, (i + 1) * per), label: i % 3 };
  }
}

Deno.test({
  name: "features: the default node is the final dense layer's input; values match the float64 oracle, batch by batch",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    const model = randomConvnet([1, 8, 8], 3, [4, 6], 3);
    assert.equal(defaultFeatureNode(model.graph), "flatten");
    using exec = await Executor.create(gpu, model);
    const count = 7, per = 64;
    const images = randomImages(count, [1, 8, 8], 5);
    const table = await collectFeatures(exec, examples(images, count, per), { batchSize: 3 });
    assert.equal(table.count, count);
    assert.equal(table.width, 6 * 2 * 2);
    assert.deepEqual([...table.indices], [100, 101, 102, 103, 104, 105, 106]);
    assert.deepEqual([...table.labels], [0, 1, 2, 0, 1, 2, 0]);
    const oracle = { graph: model.graph, weights: model.weights, normalization: model.manifest.normalization };
    const flatten = graphForwardOracle({ ...oracle, graph: { ...model.graph, output: "flatten" } }, images, count);
    assertClose(table.features, flatten.data, 36, "features", 4);
    const logits = graphForwardOracle(oracle, images, count);
    for (let i = 0; i < count; i++) {
      const row = Array.from(logits.data.subarray(i * 3, i * 3 + 3));
      assert.equal(table.predicted[i], row.indexOf(Math.max(...row)));
    }
    const named = await collectFeatures(exec, examples(images, count, per), { node: "block1.relu" });
    assert.equal(named.width, 4 * 8 * 8);
    await assert.rejects(() => collectFeatures(exec, examples(images, 1, per), { node: "nope" }), InputError);
  },
});

Deno.test({
  name:
    "sanity: randomising a linear model decorrelates its gradient maps but not IG's input factor; weights come back",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    using exec = await Executor.create(gpu, linearModel([1, 12, 12], 4, 7, [1]));
    const before = await gpu.read(exec.params.get("w")!);
    const count = 6;
    const report = await cascadingRandomization(exec, randomImages(count, [1, 12, 12], 8), count, {
      methods: ["gradient", "integratedGradients"],
      steps: 4,
      keepMaps: true,
    });
    assert.deepEqual(report.layers, ["out"]);
    for (const { stages } of report.methods) {
      assert.deepEqual(stages.map((s) => s.layer), [null, "out"]);
      assert.equal(stages[0].spearman, 1);
      assert.equal(stages[1].maps!.length, count * 144);
    }
    const [gradient, ig] = report.methods.map((m) => m.stages[1].spearman);
    // A linear model's gradient map is |W[t]|: fresh random weights share no ordering with it.
    assert.ok(Math.abs(gradient) < 0.3, `gradient: rho ${gradient} after randomisation`);
    // IG's map is |W[t] x|: the input factor survives randomisation (Adebayo et al.'s observation).
    assert.ok(ig > gradient + 0.1, `IG: rho ${ig} after randomisation, gradient ${gradient}`);
    assert.deepEqual(await gpu.read(exec.params.get("w")!), before, "trained weights are restored");
  },
});

Deno.test({
  name: "sanity: the cascade randomises the top layer first and keeps batch-norm running statistics",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    using exec = await Executor.create(gpu, randomConvnet([1, 8, 8], 3, [4], 2));
    assert.deepEqual(randomisedLayers(exec), [
      { layer: "classifier", params: ["classifier.weight", "classifier.bias"] },
      { layer: "block1.bn", params: ["block1.bn.weight", "block1.bn.bias"] },
      { layer: "block1.conv", params: ["block1.conv.weight"] },
    ]);
    const report = await cascadingRandomization(exec, randomImages(3, [1, 8, 8], 1), 3, { methods: ["gradient"] });
    assert.equal(report.methods[0].stages.length, 4);
  },
});
