import assert from "node:assert/strict";
import { join } from "node:path";
import { Buffer } from "node:buffer";
import { pathExists } from "../pipeline/io/files.ts";
import { AuditReportSchema } from "../pipeline/schema/report.ts";
import { SALIENCY_METHODS } from "../pipeline/explain/saliency.ts";
import { saveModelFolder } from "../pipeline/model/model_folder.ts";
import { bars, trainedBarsModel, writeIdx } from "./audit_fixture.ts";
import { errorLines, runCli, spawnCli, waitForFile } from "./cli_helpers.ts";
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

const FAST = ["--epsilons", "0,0.1,0.3", "--batch-size", "10", "--pgd-steps", "3", "--apgd-steps", "3", "--quiet"];

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
    assert.equal(report.robustness.attack, "apgd-ce");
    assert.deepEqual(report.robustness.curve, report.robustness.curves!["apgd-ce"]);
    assert.equal(report.robustness.curve[0].accuracy, report.accuracy.top1);
    assert.ok(report.robustness.fgsm.every((p, i) => i === 0 || p.accuracy <= report.robustness.fgsm[i - 1].accuracy));
    assert.ok(report.config.hierarchy.endsWith("hierarchy.json"));
    assert.match(report.model.sha256, /^[0-9a-f]{64}$/);
    // The report and the summary's "ran on" line name the backend the audit ran on.
    assert.ok(result.stdout.includes(`, backend ${report.adapter.backend} (`), `backend ${report.adapter.backend}`);
    for (const line of [/top-1 \d+\.\d%/, /rectified top-1/, /mistakes \(\d+\)/, /FGSM accuracy/, /APGD-CE accuracy/]) {
      assert.match(result.stdout, line);
    }
    // The later stages: explanations of what is shown, the sanity check, the bias stage's picks.
    const explanations = report.explanations!;
    assert.deepEqual(
      explanations.mistakes.map((m) => m.index).sort((a, b) => a - b),
      [...report.mistakes.items].sort((a, b) => b.confidence - a.confidence).slice(0, 16).map((m) => m.index)
        .sort((a, b) => a - b),
    );
    for (const a of explanations.adversarial) {
      assert.equal(report.images[a.index].top[0], a.label, "an adversarial example starts from a correct image");
      assert.notEqual(a.adversarial.predicted, a.label, "and is misclassified");
      assert.ok(report.config.epsilons.includes(a.epsilon));
    }
    assert.equal(explanations.method, "gradcam", "a ConvNet is explained with Grad-CAM by default");
    assert.deepEqual(explanations.sanity!.methods.map((m) => m.method), [...SALIENCY_METHODS]);
    const bias = report.bias!;
    assert.equal(bias.classes.length, 4);
    for (const c of bias.classes) {
      for (const e of [...c.prototypes, ...c.criticisms]) assert.equal(report.images[e.index].top[0], c.label);
    }
    // Every picture the report names is on disk, and index.html embeds them (no files beside it needed),
    // but for the human study sample's, which only the review page shows.
    const pictures = (value: unknown) => JSON.stringify(value ?? null).match(/assets\/[A-Za-z0-9._-]+\.png/g) ?? [];
    const assets = pictures({ ...report, study: null });
    assert.ok(assets.length > 10, `report names ${assets.length} pictures`);
    assert.ok(report.study && report.study.mistakes.items.length === report.mistakes.count, "a census of few mistakes");
    for (const path of [...assets, ...pictures(report.study)]) await Deno.stat(join(out, path));
    const html = await Deno.readTextFile(join(out, "index.html"));
    // (A saliency overlay is drawn over its image, so an image may be embedded twice.)
    for (const path of new Set(assets)) {
      const embedded = `src="data:image/png;base64,${
        Buffer.from(await Deno.readFile(join(out, path))).toString("base64")
      }"`;
      assert.ok(html.includes(embedded), `${path} is embedded`);
    }
    assert.doesNotMatch(html, /src="assets\//, "no picture is linked");
    await assert.rejects(Deno.stat(join(out, "partial")), Deno.errors.NotFound, "chunks are removed once reported");
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
    const result = await runCli("audit", [...args, "--force", "--features-per-class", "2", ...FAST]);
    assert.equal(result.code, 0, result.stderr);
    const printed = AuditReportSchema.parse(JSON.parse(result.stdout));
    // The feature store keeps 2 rows per predicted class: MMD-critic picks among those, the pools count all.
    for (const c of printed.bias!.classes) {
      assert.equal(c.poolSize, printed.images.filter((i) => i.top[0] === c.label).length);
      assert.equal(c.prototypes.length, Math.min(2, c.poolSize));
      assert.equal(c.criticisms.length, 0);
    }
    assert.equal(printed.accuracy.count, 12);
    assert.equal(printed.robustness.pgd, null);
    assert.deepEqual(printed.robustness.curve, printed.robustness.fgsm);
    assert.equal(printed.robustness.minEpsilon?.attack, "fgsm");
    assert.deepEqual(JSON.parse(await Deno.readTextFile(join(out, "report.json"))), printed);
  },
});

Deno.test({
  name: "audit CLI --norm l2 --deepfool-steps: config.norm, and DeepFool's estimates per image and their medians",
  ...gpuTest,
  async fn() {
    const { dir, modelDir, data } = await setup;
    const out = join(dir, "report-l2");
    const args = ["--model", modelDir, "--data", data, "--out", out, "--limit", "12", "--attack", "fgsm", "--json"];
    const result = await runCli("audit", [...args, "--norm", "l2", "--deepfool-steps", "20", ...FAST]);
    assert.equal(result.code, 0, result.stderr);
    const report = AuditReportSchema.parse(JSON.parse(result.stdout));
    assert.equal(report.config.norm, "l2");
    const d = report.robustness.minimalNorm!;
    assert.equal(d.norm, "l2");
    const correct = report.images.filter((im) => im.top[0] === im.label);
    const estimates = correct.flatMap((im) => (im.minimalNorm == null ? [] : [im.minimalNorm]));
    assert.equal(d.flipped, estimates.length);
    assert.equal(d.flipped + d.notFlipped, correct.length);
    const sorted = estimates.sort((a, b) => a - b), mid = Math.floor(sorted.length / 2);
    const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    assert.ok(Math.abs(d.median! - median) < 1e-12, `median ${d.median} vs ${median}`);
    for (const im of report.images) if (im.top[0] !== im.label) assert.equal(im.minimalNorm, null);
  },
});

Deno.test({
  name: "audit CLI exits 2 with one line on bad flags, unknown models and bad hierarchies",
  ...gpuTest,
  async fn() {
    const { dir, modelDir, data } = await setup;
    const out = join(dir, "report-bad");
    const badHierarchy = join(dir, "bad-hierarchy.json");
    const corrupt = `idx:${join(dir, "corrupt-images.idx")},${data.split(",")[1]}`;
    await Deno.writeFile(join(dir, "corrupt-images.idx"), new Uint8Array([0, 0, 8, 3, 0, 0, 0, 24, 1, 2]));
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
      [[...base, "--saliency", "lrp"], /--saliency:/],
      [[...base, "--attack-sample", "some"], /--attack-sample:/],
      [[...base, "--groups", join(dir, "no-groups.csv")], /no-groups\.csv/],
      [[...base, "--feature-node", "nope"], /--feature-node: the model has no node "nope"/],
      [[...base, "--data", corrupt], /corrupt-images\.idx/],
      [[...base, "--resume"], /--resume: .* holds no partial audit to resume/],
      [[...base, "--norm", "l2", "--attack", "autoattack"], /--norm l2: AutoAttack's ensemble needs Square/],
      [
        [...base, "--norm", "l2", "--epsilons", "0,1000"],
        /--epsilons: 1000 is outside \[0, [0-9.]+\], the l2 diameter/,
      ],
      [[...base, "--norm", "l1"], /--norm:/],
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

Deno.test({
  name: "audit CLI killed part-way (SIGKILL) and resumed writes the report of an uninterrupted run",
  ...gpuTest,
  async fn() {
    const { dir, modelDir, data } = await setup;
    const args = (out: string) => ["--model", modelDir, "--data", data, "--out", out, ...FAST, "--batch-size", "2"];
    const whole = join(dir, "report-whole");
    const uninterrupted = await runCli("audit", args(whole));
    assert.equal(uninterrupted.code, 0, uninterrupted.stderr);

    const out = join(dir, "report-resumed");
    const child = spawnCli("audit", args(out));
    await waitForFile(join(out, "partial", "batch-000001.json"), "the audit's second chunk");
    child.kill("SIGKILL");
    await child.status;
    const kept = [...Deno.readDirSync(join(out, "partial"))].filter((e) => e.name.startsWith("batch-")).length;
    assert.ok(kept >= 2 && kept < 12, `${kept} of 12 batches kept after the kill`);
    assert.ok(!(await pathExists(join(out, "report.json"))), "no report from a killed run");

    // The killed run's lock is stale: the next run names it, takes it over, and releases it.
    assert.equal(JSON.parse(await Deno.readTextFile(join(out, ".convnet-audit.lock"))).pid, child.pid);
    const refused = await runCli("audit", args(out));
    assert.equal(refused.code, 2);
    assert.deepEqual(errorLines(refused).length, 2, refused.stderr);
    assert.match(errorLines(refused)[0], new RegExp(`took over the stale lock of pid ${child.pid} on host `));
    assert.match(errorLines(refused)[1], /holds an unfinished audit: pass --resume to continue it, or --force/);
    assert.ok(!(await pathExists(join(out, ".convnet-audit.lock"))), "lock released after the refusal");

    // A write the kill cut short leaves a temporary file; the resumed run sweeps it.
    const leftover = join(out, "partial", `batch-000011.json.${child.pid}.7.tmp`);
    await Deno.writeTextFile(leftover, "{");
    const resumed = await runCli("audit", [...args(out), "--resume"]);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.ok(!(await pathExists(leftover)), "leftover temp swept on --resume");
    const read = async (folder: string) => {
      const { createdAt: _, timings, ...rest } = JSON.parse(await Deno.readTextFile(join(folder, "report.json")));
      return { rest, timings };
    };
    const [a, b] = [await read(whole), await read(out)];
    assert.ok(b.timings.resumed > 0 && !("resumed" in a.timings), "the resumed run replayed the kept batches");
    assert.deepEqual(b.rest, a.rest);
    for (const name of Deno.readDirSync(join(whole, "assets"))) {
      const [x, y] = [
        Deno.readFileSync(join(whole, "assets", name.name)),
        Deno.readFileSync(join(out, "assets", name.name)),
      ];
      assert.deepEqual(y, x, `assets/${name.name} differs after resuming`);
    }
  },
});

Deno.test({
  name:
    "audit CLI on Ctrl-C (SIGINT) stops after the batch in flight, keeps the finished batches and says how to resume",
  ...gpuTest,
  async fn() {
    const { dir, modelDir, data } = await setup;
    const out = join(dir, "report-interrupted");
    const child = spawnCli("audit", ["--model", modelDir, "--data", data, "--out", out, ...FAST], "piped");
    const first = join(out, "partial", "batch-000000.json");
    await waitForFile(first, "the audit's first chunk");
    child.kill("SIGINT");
    const { code, stderr } = await child.output();
    const text = new TextDecoder().decode(stderr);
    assert.equal(code, 130, text);
    assert.match(text, /finished batches kept in .*report-interrupted: --resume continues/);
    const kept = [...Deno.readDirSync(join(out, "partial"))].filter((e) => e.name.startsWith("batch-")).length;
    assert.ok(kept >= 1 && kept < 3, `${kept} of 3 batches kept`);
    assert.ok(!(await pathExists(join(out, "report.json"))), "no report from an interrupted run");
    assert.ok(!(await pathExists(join(out, ".convnet-audit.lock"))), "lock released on Ctrl-C");
  },
});

Deno.test({
  name: "audit CLI exits 2 with one line when the out folder cannot be written",
  ...gpuTest,
  async fn() {
    const { dir, modelDir, data } = await setup;
    const file = join(dir, "a-file");
    await Deno.writeTextFile(file, "not a folder");
    const result = await runCli("audit", ["--model", modelDir, "--data", data, "--out", join(file, "report"), ...FAST]);
    assert.equal(result.code, 2, result.stderr);
    assert.equal(errorLines(result).length, 1, result.stderr);
    assert.match(errorLines(result)[0], /--out .*a-file\/report: cannot write there/);
  },
});
