/**
 * The sanity checks on the GPU: independent randomisation of a layer the output does not depend
 * on changes nothing; the data randomisation test on the shipped shuffled-label model; Integrated
 * Gradients' completeness gaps as the report carries them; and the audit's report carrying the
 * verdicts.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import fc from "fast-check";
import { completenessGaps } from "../pipeline/explain/completeness.ts";
import { dataRandomization } from "../pipeline/explain/data_randomisation.ts";
import { computeSaliency, SALIENCY_METHODS } from "../pipeline/explain/saliency.ts";
import { cascadingRandomization, sanityStages } from "../pipeline/explain/sanity.ts";
import { SANITY_TESTS } from "../pipeline/explain/sanity_verdict.ts";
import { readAll } from "../pipeline/data/in_memory.ts";
import { openDataSource } from "../pipeline/data/mod.ts";
import { Executor } from "../pipeline/model/executor.ts";
import { loadModelFolder, saveModelFolder } from "../pipeline/model/model_folder.ts";
import { buildConvnet } from "../pipeline/train/architectures.ts";
import { AuditReportSchema, ExplanationsSchema } from "../pipeline/schema/report.ts";
import { sanitySection } from "../pipeline/report/sections/sanity.ts";
import { evaluateAccuracy } from "../pipeline/train/train.ts";
import { quadrants, randomConvnet, randomImages, trainedQuadrantsModel } from "./explain_fixture.ts";
import { errorLines, runCli } from "./cli_helpers.ts";
import { gpuTest, testGpu } from "./gpu_fixture.ts";
import { randomArray } from "./oracle.ts";

const QUICK = { samples: 3, steps: 4 };

Deno.test("sanity: at most K stages per test; the cascade ends with every layer, the independent test spans top to bottom", () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 80 }), fc.integer({ min: 1, max: 20 }), (layers, k) => {
      const { cascading, independent } = sanityStages(layers, k);
      const stages = Math.min(layers, k);
      assert.equal(cascading.length, stages);
      assert.equal(independent.length, stages);
      cascading.forEach((prefix, s) => {
        assert.deepEqual(
          prefix,
          Array.from({ length: prefix.length }, (_, i) => i),
          "a prefix of the layers, top first",
        );
        if (s > 0) assert.ok(prefix.length > cascading[s - 1].length, "each stage randomises more");
      });
      assert.equal(cascading[stages - 1].length, layers, "the last stage randomises every layer");
      assert.equal(independent[0], 0);
      if (stages > 1) assert.equal(independent[stages - 1], layers - 1);
      assert.ok(independent.every((d, i) => i === 0 || d > independent[i - 1]));
    }),
  );
  // A ResNet-50's 54 layers in 16 stages: the cascade steps by 3 or 4 layers.
  assert.deepEqual(sanityStages(54, 16).cascading.map((p) => p.length), [
    3,
    7,
    10,
    14,
    17,
    20,
    24,
    27,
    30,
    34,
    37,
    41,
    44,
    47,
    51,
    54,
  ]);
});

Deno.test({
  name: "sanity: independent randomisation of a dead branch's layer leaves every method's maps exactly as trained",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 2, max: 4 }), async (seed, width) => {
        const model = randomConvnet([1, 8, 8], 3, [width], seed);
        const features = width * 4 * 4;
        // A dense layer on the flattened features whose output nothing reads.
        const at = model.graph.nodes.findIndex((n) => n.name === "classifier");
        model.graph.nodes.splice(at, 0, {
          name: "dead",
          op: "dense",
          inputs: ["flatten"],
          weight: "dead.w",
          bias: "dead.b",
        });
        model.weights.set("dead.w", { shape: [5, features], data: randomArray(5 * features, seed + 1) });
        model.weights.set("dead.b", { shape: [5], data: randomArray(5, seed + 2) });
        using exec = await Executor.create(gpu, model);
        const count = 3;
        const checks = await cascadingRandomization(exec, randomImages(count, [1, 8, 8], seed), count, {
          ...QUICK,
          keepMaps: true,
          randomSeed: seed,
        });
        assert.equal(checks.layers[1], "dead");
        for (const { method, stages } of checks.independent) {
          const dead = stages.find((s) => s.layer === "dead")!;
          assert.deepEqual(dead.maps, checks.original.get(method)!.maps, `${method}: the dead layer changed the maps`);
          for (const s of dead.similarity) assert.deepEqual(s, { spearman: 1, absSpearman: 1, ssim: 1, hog: 1 });
          const top = stages.find((s) => s.layer === "classifier")!;
          assert.notDeepEqual(top.maps, dead.maps, `${method}: randomising the classifier changes the maps`);
        }
      }),
      // 493, 2: a map of zeros before and after (a correlation of constants is undefined).
      { numRuns: 3, examples: [[493, 2]] },
    );
  },
});

Deno.test({
  name:
    "sanity: the shipped shuffled-label model is at chance on mnist:test; gradient maps differ from the digits model's",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    using digits = await Executor.create(gpu, await loadModelFolder("fixtures/models/digits"));
    using shuffled = await Executor.create(gpu, await loadModelFolder("fixtures/models/digits-shuffled"));
    const test = await readAll(await openDataSource("mnist:test"));
    const chance = await evaluateAccuracy(shuffled, test);
    assert.ok(chance > 0.05 && chance < 0.15, `shuffled-label model: ${chance} on mnist:test, chance is 0.1`);
    assert.ok(await evaluateAccuracy(digits, test) > 0.95);
    const count = 4;
    const images = test.images.slice(0, count * 784);
    const original = new Map();
    for (const method of SALIENCY_METHODS) {
      original.set(method, await computeSaliency(digits, images, count, { ...QUICK, method, reduce: "sum" }));
    }
    const data = await dataRandomization(shuffled, images, count, original, QUICK);
    assert.deepEqual(data.map((d) => d.method), [...SALIENCY_METHODS]);
    const mean = (method: string) => {
      const s = data.find((d) => d.method === method)!.similarity;
      return s.reduce((a, v) => a + v.absSpearman, 0) / count;
    };
    assert.ok(mean("gradient") < 0.5, `gradient: |rho| ${mean("gradient")} against the shuffled-label model`);
    // x input: both maps are 0 on the black background, whatever the labels taught.
    assert.ok(mean("gradientInput") > 0.9, `gradientInput: |rho| ${mean("gradientInput")}`);
  },
});

Deno.test({
  name: "sanity: IG's completeness gaps are sum(attributions) - (f(x) - f(baseline)), within 1% at 64 steps",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    using exec = await Executor.create(gpu, await trainedQuadrantsModel(gpu));
    const count = 8;
    const ig = await computeSaliency(exec, quadrants(count, 8, 5).images, count, {
      method: "integratedGradients",
      reduce: "sum",
    });
    completenessGaps(ig).forEach((g, b) => {
      const map = Array.from(ig.maps.subarray(b * 64, (b + 1) * 64));
      const total = map.reduce((a, v) => a + v, 0);
      const delta = ig.scores[b] - ig.baselineScores![b];
      assert.ok(Math.abs(g.attributionSum - total) < 1e-9 && Math.abs(g.scoreDifference - delta) < 1e-9);
      assert.ok(Math.abs(g.relativeGap! - Math.abs(total - delta) / Math.abs(delta)) < 1e-9);
      const scale = Math.max(Math.abs(delta), map.reduce((a, v) => a + Math.abs(v), 0));
      assert.ok(Math.abs(g.gap) <= 0.01 * scale, `image ${b}: gap ${g.gap}, scale ${scale}`);
    });
  },
});

Deno.test({
  name: "sanity: the audit's report carries a verdict per method and test, and the page shows them",
  ...gpuTest,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "sanity-cli-" });
    const out = join(dir, "report");
    const digits = await loadModelFolder("fixtures/models/digits");
    const { graph, weights } = buildConvnet({ input: [1, 28, 28], classes: 3, widths: [4] }, 1);
    await saveModelFolder(join(dir, "model"), {
      graph,
      weights,
      manifest: { ...digits.manifest, classes: ["a", "b", "c"] },
    });
    try {
      const result = await runCli("audit", [
        ...["--model", "fixtures/models/digits", "--limit", "48", "--out", out, "--attack", "fgsm"],
        ...["--epsilons", "0,0.1", "--skip-min-epsilon", "--shown", "1", "--prototypes", "0", "--study", "0"],
        ...["--sanity-images", "2", "--sanity-random-model", "fixtures/models/digits-shuffled", "--quiet"],
      ]);
      assert.equal(result.code, 0, result.stderr);
      const report = AuditReportSchema.parse(JSON.parse(await Deno.readTextFile(join(out, "report.json"))));
      const sanity = report.explanations!.sanity!;
      assert.equal(sanity.indices!.length, 2);
      assert.deepEqual(
        sanity.verdict!.verdicts.map((v) => `${v.method} ${v.test}`),
        SALIENCY_METHODS.flatMap((m) => SANITY_TESTS.map((t) => `${m} ${t}`)),
      );
      for (const v of sanity.verdict!.verdicts) {
        for (const m of Object.values(v.measures)) {
          assert.ok(m.low <= m.mean && m.mean <= m.high && m.passes === m.high < sanity.verdict!.threshold);
        }
      }
      assert.equal(sanity.completeness!.length, 2);
      const page = await Deno.readTextFile(join(out, "index.html"));
      assert.ok(page.includes("data (random-label model)") && page.includes("completeness"));
      // A random-label model of other classes is refused before the batches, in one line.
      const wrong = await runCli("audit", [
        ...["--model", "fixtures/models/digits", "--limit", "8", "--out", join(dir, "wrong"), "--quiet"],
        ...["--sanity-random-model", join(dir, "model")],
      ]);
      assert.equal(wrong.code, 2, wrong.stderr);
      assert.equal(errorLines(wrong).length, 1, wrong.stderr);
      assert.match(errorLines(wrong)[0], /--sanity-random-model .*: has 3 classes, the audited model 10/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("sanity: a report written before the verdicts still parses and shows its cascade, judged as it was", () => {
  const older = {
    images: 2,
    layers: ["fc", "conv1"],
    methods: [
      {
        method: "gradient",
        stages: [{ layer: null, spearman: 1 }, { layer: "fc", spearman: 0.3 }, { layer: "conv1", spearman: 0.1 }],
      },
      {
        method: "gradientInput",
        stages: [{ layer: null, spearman: 1 }, { layer: "fc", spearman: 0.99 }, { layer: "conv1", spearman: 0.98 }],
      },
    ],
    figure: "assets/sanity.png",
  };
  const sanity = ExplanationsSchema.shape.sanity.parse(older)!;
  assert.equal(sanity.verdict, undefined);
  const body = String(sanitySection(sanity, (src) => ({ src, width: 8, height: 8 })).body);
  assert.match(body, /Fails the check: gradientInput \(0\.98\)/);
  assert.ok(!body.includes("bootstrap") && !body.includes("completeness"));
});
