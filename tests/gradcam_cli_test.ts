/**
 * The audit CLI with Grad-CAM: `--saliency gradcam` makes the report's overlays from Grad-CAM maps
 * at the last spatial layer (the same pictures a direct Grad-CAM of those images gives, not the
 * gradient's), the flags' errors exit 2 with one line naming the layer or the flag, and the
 * default method is Grad-CAM for a ConvNet and the gradient for an MLP.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Gpu } from "../kernels/gpu.ts";
import { chooseSaliency } from "../pipeline/audit/saliency_choice.ts";
import { gatherImages } from "../pipeline/audit/gather.ts";
import { openDataSource } from "../pipeline/data/mod.ts";
import { heatPicture } from "../pipeline/explain/image_grid.ts";
import { computeSaliency, type SaliencyMethod } from "../pipeline/explain/saliency.ts";
import { Executor } from "../pipeline/model/executor.ts";
import { loadModelFolder } from "../pipeline/model/model_folder.ts";
import { AuditReportSchema } from "../pipeline/schema/report.ts";
import { errorLines, runCli } from "./cli_helpers.ts";
import { linearModel } from "./explain_fixture.ts";
import { gpuTest, testGpu } from "./gpu_fixture.ts";

const DIGITS = "fixtures/models/digits";
const QUICK = [
  ...["--model", DIGITS, "--data", "mnist:test", "--limit", "200", "--attack", "fgsm", "--skip-min-epsilon"],
  ...["--shown", "3", "--sanity-images", "0", "--prototypes", "0", "--study", "0", "--quiet"],
];

/** The overlay the report's asset should hold: the method's map of the image as a PNG overlay. */
async function expectedOverlay(gpu: Gpu, index: number, method: SaliencyMethod): Promise<Uint8Array> {
  using exec = await Executor.create(gpu, await loadModelFolder(DIGITS));
  const image = await gatherImages(await openDataSource("mnist:test"), [index], [0, 1]);
  const { maps } = await computeSaliency(exec, image, 1, { method, inputRange: [0, 1] });
  return heatPicture(maps, 28, 28, 112).bytes;
}

Deno.test({
  name: "audit CLI: --saliency gradcam writes Grad-CAM overlays at the last spatial layer into the report",
  ...gpuTest,
  async fn() {
    const out = await Deno.makeTempDir({ prefix: "gradcam-cli-" });
    const result = await runCli("audit", [...QUICK, "--saliency", "gradcam", "--out", out]);
    assert.equal(result.code, 0, result.stderr);
    const report = AuditReportSchema.parse(JSON.parse(await Deno.readTextFile(join(out, "report.json"))));
    assert.equal(report.config.saliency, "gradcam");
    assert.equal(report.config.camLayer, "block2.pool");
    const explanations = report.explanations!;
    assert.equal(explanations.method, "gradcam");
    const shown = [...explanations.mistakes, ...explanations.adversarial.flatMap((a) => [a.clean, a.adversarial])];
    assert.ok(shown.length > 0, "200 digits give a mistake or an adversarial example to show");
    for (const s of shown) assert.ok((await Deno.stat(join(out, s.saliency))).size > 0, s.saliency);
    // A mistake, or else the clean image of an adversarial example: both are data images as they are.
    const first = explanations.mistakes[0] ??
      { index: explanations.adversarial[0].index, ...explanations.adversarial[0].clean };
    const written = await Deno.readFile(join(out, first.saliency));
    const gpu = await testGpu();
    assert.deepEqual(written, await expectedOverlay(gpu, first.index, "gradcam"), "the asset is the Grad-CAM overlay");
    assert.notDeepEqual(written, await expectedOverlay(gpu, first.index, "gradient"), "and not the gradient's");
    await Deno.remove(out, { recursive: true });
  },
});

Deno.test({
  name: "audit CLI: --cam-layer and --occlusion-patch errors exit 2 with one line naming the layer or the flag",
  ...gpuTest,
  async fn() {
    const out = await Deno.makeTempDir({ prefix: "gradcam-cli-errors-" });
    const cases: [string[], RegExp][] = [
      [["--cam-layer", "classifier"], /--cam-layer: node "classifier" is \[1, 10\], not a rank-4/],
      [["--cam-layer", "nope"], /--cam-layer: the model has no node "nope"/],
      [["--saliency", "occlusion", "--occlusion-patch", "29"], /--occlusion-patch: 29 does not fit the 28x28 input/],
      [["--occlusion-patch", "2000"], /--occlusion-patch:/],
      [["--occlusion-stride", "0"], /--occlusion-stride:/],
    ];
    for (const [flags, message] of cases) {
      const result = await runCli("audit", [...QUICK, "--out", out, ...flags]);
      const lines = errorLines(result);
      assert.equal(result.code, 2, `${flags.join(" ")}: exit ${result.code}, stderr ${result.stderr}`);
      assert.equal(lines.length, 1, `${flags.join(" ")}: one line expected, got ${JSON.stringify(lines)}`);
      assert.match(lines[0], message);
    }
    await Deno.remove(out, { recursive: true });
  },
});

Deno.test({
  name: "saliency default: Grad-CAM at the last spatial layer for a ConvNet, the gradient for a model without one",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    using convnet = await Executor.create(gpu, await loadModelFolder(DIGITS));
    const chosen = chooseSaliency(convnet, {});
    assert.equal(chosen.method, "gradcam");
    assert.equal(chosen.settings.camLayer, "block2.pool");
    assert.deepEqual(chosen.settings.occlusion, { patch: 4, stride: 2 });
    assert.equal(chooseSaliency(convnet, { saliency: "smoothGrad" }).method, "smoothGrad");
    using linear = await Executor.create(gpu, linearModel([1, 4, 4], 3, 1, [1]));
    assert.equal(chooseSaliency(linear, {}).method, "gradient");
    assert.throws(
      () => chooseSaliency(linear, { saliency: "gradcam" }),
      /--saliency gradcam: the model has no spatial/,
    );
  },
});
