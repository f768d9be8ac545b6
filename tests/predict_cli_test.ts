import assert from "node:assert/strict";
import { join } from "node:path";
import { saveModelFolder } from "../pipeline/model/model_folder.ts";
import { writeNpy } from "../pipeline/formats/npy.ts";
import { errorLines, runCli } from "./cli_helpers.ts";
import { graphForwardOracle } from "./graph_oracle.ts";
import { assertGradientMatches, meanXentOracle } from "./ops_oracle.ts";
import { assertClose } from "./oracle.ts";
import { resnetFixture } from "./resnet_fixture.ts";

async function setup() {
  const dir = await Deno.makeTempDir({ prefix: "predict-test-" });
  const model = resnetFixture();
  const modelDir = join(dir, "model");
  await saveModelFolder(modelDir, model);
  const shape = [2, 3, 9, 9];
  const x = Float32Array.from({ length: 2 * 3 * 81 }, (_, i) => (Math.cos(i * 0.71) + 1) / 2);
  const input = join(dir, "x.npy");
  await Deno.writeFile(input, writeNpy({ shape, data: x }));
  return { dir, model, modelDir, input, x };
}

Deno.test("predict CLI writes logits and the mean cross-entropy input gradient that match the float64 oracle", async () => {
  const { dir, model, modelDir, input, x } = await setup();
  const out = join(dir, "r.json");
  const result = await runCli("predict", ["--model", modelDir, "--input", input, "--grad-labels", "3,1", "--out", out]);
  assert.equal(result.code, 0, result.stderr);
  const report = JSON.parse(await Deno.readTextFile(out));
  const oracleModel = { graph: model.graph, weights: model.weights, normalization: model.manifest.normalization };
  const expected = graphForwardOracle(oracleModel, x, 2);
  assert.equal(report.logits.length, 2);
  assertClose(report.logits.flat(), expected.data, 64, "logits", 10);
  assert.equal(report.inputGradient.length, x.length);
  const loss = (input: Float64Array) => meanXentOracle(graphForwardOracle(oracleModel, input, 2).data, 2, 5, [3, 1]);
  assertGradientMatches(loss, Float64Array.from(x), report.inputGradient, "inputGradient", { h: 1e-4, tol: 2e-3 });
});

Deno.test("predict CLI without --grad-labels writes logits only", async () => {
  const { dir, modelDir, input } = await setup();
  const out = join(dir, "r.json");
  const result = await runCli("predict", ["--model", modelDir, "--input", input, "--out", out]);
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(Object.keys(JSON.parse(await Deno.readTextFile(out))), ["logits"]);
});

Deno.test("predict CLI exits 2 with one clear line on bad usage and bad input", async () => {
  const { dir, modelDir, input } = await setup();
  const out = join(dir, "r.json");
  const wrongShape = join(dir, "wrong.npy");
  await Deno.writeFile(wrongShape, writeNpy({ shape: [1, 1, 9, 9], data: new Float32Array(81) }));
  await Deno.writeTextFile(join(dir, "exists.json"), "{}");
  const cases: [string[], RegExp][] = [
    [["--input", input, "--out", out], /--model: is required/],
    [["--model", join(dir, "nope"), "--input", input, "--out", out], /nope: model folder not found/],
    [["--model", modelDir, "--input", join(dir, "none.npy"), "--out", out], /none\.npy: no such file/],
    [
      ["--model", modelDir, "--input", wrongShape, "--out", out],
      /input is \[1,1,9,9\] but the model takes \[N, 3,9,9\]/,
    ],
    [
      ["--model", modelDir, "--input", input, "--grad-labels", "1", "--out", out],
      /--grad-labels has 1 labels for 2 images/,
    ],
    [
      ["--model", modelDir, "--input", input, "--grad-labels", "1,9", "--out", out],
      /label 9 is not a class index in 0\.\.4/,
    ],
    [["--model", modelDir, "--input", input, "--out", join(dir, "exists.json")], /exists\.json exists: pass --force/],
    [["--model", modelDir, "--input", input, "--out", out, "--bogus"], /Unknown option '--bogus'/],
  ];
  for (const [args, message] of cases) {
    const result = await runCli("predict", args);
    const lines = errorLines(result);
    assert.equal(result.code, 2, `${args.join(" ")}: exit ${result.code}, stderr ${result.stderr}`);
    assert.equal(lines.length, 1, `${args.join(" ")}: one line expected, got ${JSON.stringify(lines)}`);
    assert.match(lines[0], message);
  }
});

Deno.test("predict CLI exits 2 naming the remedy when no WebGPU adapter is available", async () => {
  const { dir, modelDir, input } = await setup();
  // A backend this host does not have: the adapter request finds nothing.
  const result = await runCli("predict", ["--model", modelDir, "--input", input, "--out", join(dir, "r.json")], {
    env: { DENO_WEBGPU_BACKEND: "metal" },
  });
  assert.equal(result.code, 2, result.stderr);
  const lines = errorLines(result);
  assert.equal(lines.length, 1, JSON.stringify(lines));
  assert.match(lines[0], /no WebGPU adapter found: install a GPU driver with Vulkan support/);
});
