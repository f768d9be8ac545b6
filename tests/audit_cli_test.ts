import assert from "node:assert/strict";
import { join } from "node:path";
import { AuditReportSchema } from "../pipeline/audit/report_schema.ts";
import { saveModelFolder } from "../pipeline/model_folder.ts";
import { bars, trainedBarsModel, writeIdx } from "./audit_fixture.ts";
import { errorLines, runCli } from "./cli_helpers.ts";
import { gpuTest, testGpu } from "./gpu_fixture.ts";

/** A trained bars model folder with a two-level hierarchy, and 24 test images as an IDX pair. */
const setup = (async () => {
  const dir = await Deno.makeTempDir({ prefix: "audit-cli-" });
  const model = await trainedBarsModel(await testGpu());
  const modelDir = join(dir, "model");
  await saveModelFolder(modelDir, { ...model, manifest: { ...model.manifest, hierarchy: "hierarchy.json" } });
  const hierarchy = {
    name: "bars",
    children: [{ name: "upper", children: [{ name: "0" }, { name: "1" }] }, {
      name: "lower",
      children: [{ name: "2" }, { name: "3" }],
    }],
  };
  await Deno.writeTextFile(join(modelDir, "hierarchy.json"), JSON.stringify(hierarchy));
  const data = await writeIdx(dir, "test", bars(24, 4, 8, 9));
  return { dir, modelDir, data };
})();

const FAST = ["--epsilons", "0,0.1,0.3", "--batch-size", "10", "--pgd-steps", "3", "--quiet"];

Deno.test({
  name: "audit CLI end to end: exits 0, writes a schema-valid report and prints the summary table",
  ...gpuTest,
  async fn() {
    const { dir, modelDir, data } = await setup;
    const out = join(dir, "report-ok");
    const result = await runCli("audit", ["--model", modelDir, "--data", data, "--out", out, ...FAST]);
    assert.equal(result.code, 0, result.stderr);
    const report = AuditReportSchema.parse(JSON.parse(await Deno.readTextFile(join(out, "report.json"))));
    assert.equal(report.data.count, 24);
    assert.equal(report.accuracy.count, 24);
    assert.ok(report.accuracy.top1 >= 0.9, `a trained bars model should be accurate, got ${report.accuracy.top1}`);
    assert.equal(report.accuracy.confusion.flat().reduce((a, b) => a + b, 0), 24);
    assert.deepEqual(report.images.map((i) => i.index), [...Array(24).keys()]);
    const wrong = report.images.filter((i) => i.top[0] !== i.label).map((i) => i.index);
    assert.deepEqual(report.mistakes.items.map((m) => m.index), wrong);
    assert.deepEqual(report.robustness.curve.map((p) => p.epsilon), [0, 0.1, 0.3]);
    assert.deepEqual(report.robustness.curve, report.robustness.pgd);
    assert.equal(report.robustness.curve[0].accuracy, report.accuracy.top1);
    assert.ok(report.robustness.fgsm.every((p, i) => i === 0 || p.accuracy <= report.robustness.fgsm[i - 1].accuracy));
    assert.ok(report.config.hierarchy.endsWith("hierarchy.json"));
    assert.match(report.model.sha256, /^[0-9a-f]{64}$/);
    for (const line of [/top-1 \d+\.\d%/, /rectified top-1/, /mistakes \(\d+\)/, /FGSM accuracy/, /PGD accuracy/]) {
      assert.match(result.stdout, line);
    }
    // Again without --force: refused, and the report is untouched.
    const again = await runCli("audit", ["--model", modelDir, "--data", data, "--out", out, ...FAST]);
    assert.equal(again.code, 2);
    assert.deepEqual(errorLines(again).length, 1, again.stderr);
    assert.match(errorLines(again)[0], /report\.json exists: pass --force to overwrite it/);
  },
});

Deno.test({
  name: "audit CLI --json --force --attack fgsm prints the report as JSON and skips PGD",
  ...gpuTest,
  async fn() {
    const { dir, modelDir, data } = await setup;
    const out = join(dir, "report-json");
    await Deno.mkdir(out);
    await Deno.writeTextFile(join(out, "report.json"), "{}");
    const args = ["--model", modelDir, "--data", data, "--out", out, "--limit", "12", "--attack", "fgsm", "--json"];
    const result = await runCli("audit", [...args, "--force", ...FAST]);
    assert.equal(result.code, 0, result.stderr);
    const printed = AuditReportSchema.parse(JSON.parse(result.stdout));
    assert.equal(printed.accuracy.count, 12);
    assert.equal(printed.robustness.pgd, null);
    assert.deepEqual(printed.robustness.curve, printed.robustness.fgsm);
    assert.equal(printed.robustness.minEpsilon?.attack, "fgsm");
    assert.deepEqual(JSON.parse(await Deno.readTextFile(join(out, "report.json"))), printed);
  },
});

Deno.test({
  name: "audit CLI exits 2 with one line on bad flags, unknown models and bad hierarchies",
  ...gpuTest,
  async fn() {
    const { dir, modelDir, data } = await setup;
    const out = join(dir, "report-bad");
    const badHierarchy = join(dir, "bad-hierarchy.json");
    await Deno.writeTextFile(badHierarchy, JSON.stringify({ name: "r", children: [{ name: "0" }, { name: "1" }] }));
    const base = ["--model", modelDir, "--data", data, "--out", out];
    const cases: [string[], RegExp][] = [
      [[...base, "--epsilons", "0,1.5"], /--epsilons: 1\.5 is outside \[0, 1\]/],
      [[...base, "--epsilons", "0,-0.1"], /--epsilons: must be comma-separated non-negative numbers/],
      [[...base, "--epsilons", "a"], /--epsilons: must be comma-separated/],
      [["--model", join(dir, "no-such-model"), "--data", data, "--out", out], /no-such-model: model folder not found/],
      [[...base, "--attack", "cw"], /--attack:/],
      [[...base, "--limit", "0"], /--limit:/],
      [[...base, "--hierarchy", badHierarchy], /bad-hierarchy\.json: class\(es\) "2", "3" are not leaves/],
      [[...base, "--superclass-depth", "3"], /--superclass-depth: 3 is deeper than the hierarchy's leaves \(2\)/],
      [[...base, "--data", "imagenet"], /unsupported data source "imagenet"/],
      [[...base, "--bogus"], /Unknown option '--bogus'/],
    ];
    for (const [args, message] of cases) {
      const result = await runCli("audit", args);
      const lines = errorLines(result);
      assert.equal(result.code, 2, `${args.join(" ")}: exit ${result.code}, stderr ${result.stderr}`);
      assert.equal(lines.length, 1, `${args.join(" ")}: one line expected, got ${JSON.stringify(lines)}`);
      assert.match(lines[0], message);
    }
    await assert.rejects(Deno.stat(out), Deno.errors.NotFound, "no report folder after a refused run");
  },
});
