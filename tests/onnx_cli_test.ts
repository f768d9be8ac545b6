import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { AuditReportSchema } from "../pipeline/schema/report.ts";
import { loadModel } from "../pipeline/model/load_model.ts";
import { saveModelFolder } from "../pipeline/model/model_folder.ts";
import { writeNpy } from "../pipeline/formats/npy.ts";
import { bars, writeIdx } from "./audit_fixture.ts";
import { runCli } from "./cli_helpers.ts";
import { OnnxBuilder } from "./onnx_builder.ts";
import { convBn, lenetFixture } from "./onnx_fixtures.ts";
import { assertLogitsMatch, OrtModel } from "./onnx_ort.ts";
import { resnetFixture } from "./resnet_fixture.ts";

async function writeLenet(): Promise<{ dir: string; path: string; fixture: ReturnType<typeof lenetFixture> }> {
  const fixture = lenetFixture();
  const dir = await Deno.makeTempDir({ prefix: "onnx-cli-" });
  const path = join(dir, "lenet.onnx");
  await Deno.writeFile(path, fixture.bytes);
  await Deno.writeTextFile(join(dir, "labels.json"), JSON.stringify(fixture.sidecar));
  return { dir, path, fixture };
}

Deno.test("predict --summary prints every node with its output shape, parameters and FLOPs, and the totals", async () => {
  const { dir, path } = await writeLenet();
  const result = await runCli("predict", ["--model", path, "--sidecar", join(dir, "labels.json"), "--summary"]);
  assert.equal(result.code, 0, result.stderr);
  const lines = result.stdout.trim().split("\n");
  assert.match(lines[0], /lenet\.onnx \(onnx, sha256 [0-9a-f]{64}\)/);
  assert.match(lines[1], /input \[1, 28, 28\], 10 classes, 12 nodes/);
  // conv 5x5, 1 -> 6 channels, pad 2: 156 parameters; each of 6 x 28 x 28 outputs costs 25 multiply-adds + a bias.
  assert.match(lines[3], /^conv_1\s+conv2d\s+image\s+\[6, 28, 28\]\s+156\s+239,904$/);
  assert.match(result.stdout, /total: 61,706 parameters .* 852\.62 kFLOPs per image/);
  assert.match(result.stdout, /note: Softmax "softmax_17" at the output was dropped/);

  const folder = join(dir, "resnet");
  await saveModelFolder(folder, resnetFixture());
  const resnet = await runCli("predict", ["--model", folder, "--summary"]);
  assert.equal(resnet.code, 0, resnet.stderr);
  assert.match(resnet.stdout, /\(folder, sha256 [0-9a-f]{64}\)/);
  assert.match(resnet.stdout, /^dw\s+conv2d\s+relu1\s+\[4, 9, 9\]\s+36\s+/m);
});

Deno.test("predict CLI runs an onnx model: its logits match onnxruntime's", async () => {
  const { dir, path, fixture } = await writeLenet();
  const x = Float32Array.from({ length: 3 * 784 }, (_, i) => (Math.sin(i * 0.37) + 1) / 2);
  await Deno.writeFile(join(dir, "x.npy"), writeNpy({ shape: [3, 1, 28, 28], data: x }));
  const out = join(dir, "r.json");
  const args = ["--model", path, "--sidecar", join(dir, "labels.json"), "--input", join(dir, "x.npy"), "--out", out];
  const result = await runCli("predict", args);
  assert.equal(result.code, 0, result.stderr);
  const ort = await OrtModel.create(fixture.reference, fixture.sidecar.normalization);
  try {
    const logits = JSON.parse(await Deno.readTextFile(out)).logits.flat();
    assertLogitsMatch(logits, await ort.logits(x, [3, 1, 28, 28]), "predict CLI");
  } finally {
    await ort.release();
  }
});

Deno.test("train --init starts from an onnx model and writes a model folder with its graph", async () => {
  const dir = await Deno.makeTempDir({ prefix: "onnx-train-" });
  const b = new OnnxBuilder(13, 9);
  let x = b.op("Relu", [convBn(b, "image", 1, 4, { kernel: 3, pad: 1, bn: "separate" }, 70)]);
  x = b.op("Flatten", [b.op("GlobalAveragePool", [x])]);
  x = b.op("Gemm", [x, b.random("fc.w", [3, 4], 0.5), b.random("fc.b", [3], 0.1)], { transB: { i: 1 } });
  const onnxPath = join(dir, "init.onnx");
  const bytes = b.build({ name: "image", dims: ["N", 1, 8, 8] }, { name: x, dims: ["N", 3] });
  await Deno.writeFile(onnxPath, bytes);
  await Deno.writeTextFile(
    `${onnxPath}.json`,
    JSON.stringify({ classes: ["a", "b", "c"], normalization: { mean: [0.2], std: [0.4] } }),
  );
  const data = await writeIdx(dir, "train", bars(64, 3, 8, 1));
  const test = await writeIdx(dir, "test", bars(32, 3, 8, 2));
  const out = join(dir, "trained");
  const args = [
    "--out",
    out,
    "--init",
    onnxPath,
    "--data",
    data,
    "--test",
    test,
    "--epochs",
    "1",
    "--batch-size",
    "16",
    "--quiet",
  ];
  const result = await runCli("train", args);
  assert.equal(result.code, 0, result.stderr);

  const initial = await loadModel(onnxPath);
  const trained = await loadModel(out);
  assert.deepEqual(trained.files.graph, initial.files.graph);
  assert.deepEqual(trained.files.manifest.normalization, { mean: [0.2], std: [0.4] });
  const init = trained.files.manifest.provenance?.init as Record<string, string>;
  assert.equal(init.sha256, createHash("sha256").update(bytes).digest("hex"));
  const dense = initial.files.graph.nodes.find((n) => n.op === "dense")!;
  assert.ok(dense.op === "dense");
  assert.notDeepEqual(trained.files.weights.get(dense.weight), initial.files.weights.get(dense.weight), "trained");

  const fourClasses = await writeIdx(dir, "four", bars(64, 4, 8, 3));
  const mismatch = await runCli("train", [...args, "--data", fourClasses, "--force"]);
  assert.equal(mismatch.code, 2, mismatch.stderr);
  assert.match(mismatch.stderr, /--init .*init\.onnx has 3 classes but --data has 4/);
});

Deno.test("audit CLI audits an onnx model on real digits: the report names the file's sha256", async () => {
  const { dir, path } = await writeLenet();
  const out = join(dir, "report");
  const result = await runCli("audit", [
    ...["--model", path, "--sidecar", join(dir, "labels.json"), "--data", "mnist", "--limit", "16", "--out", out],
    ...["--epsilons", "0,0.1", "--pgd-steps", "2", "--skip-min-epsilon", "--sanity-images", "1", "--quiet"],
  ]);
  assert.equal(result.code, 0, result.stderr);
  const report = AuditReportSchema.parse(JSON.parse(await Deno.readTextFile(join(out, "report.json"))));
  assert.equal(report.model.sha256, createHash("sha256").update(await Deno.readFile(path)).digest("hex"));
  assert.equal(report.accuracy.count, 16);
  assert.equal(report.bias!.classes.length, 10);
});
