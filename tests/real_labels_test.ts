import assert from "node:assert/strict";
import { join } from "node:path";
import { parseHTML } from "linkedom";
import { audit, type AuditOptions } from "../pipeline/audit/audit.ts";
import { classifyMistakes } from "../pipeline/audit/mistakes.ts";
import { realAccuracy } from "../pipeline/audit/real_accuracy.ts";
import { formatSummary } from "../pipeline/audit/summary.ts";
import type { ImagePrediction } from "../pipeline/audit/evaluate.ts";
import { parseRealLabels, readRealLabels } from "../pipeline/data/real_labels.ts";
import { InputError } from "../pipeline/io/input_error.ts";
import { Hierarchy } from "../pipeline/model/hierarchy.ts";
import { saveModelFolder } from "../pipeline/model/model_folder.ts";
import { renderReportHtml } from "../pipeline/report/mod.ts";
import { startReviewServer } from "../pipeline/review/mod.ts";
import { judge } from "./review_helpers.ts";
import { type AuditReport, AuditReportSchema } from "../pipeline/schema/report.ts";
import { bars, linearModel, writeIdx } from "./audit_fixture.ts";
import { errorLines, runCli } from "./cli_helpers.ts";
import { gpuTest } from "./gpu_fixture.ts";
import { sampleReportFolder } from "./report_fixture.ts";

const pct = (v: number) => `${(100 * v).toFixed(1)}%`;

/** The parsed document; untyped because linkedom's types need the DOM lib, which Deno leaves out. */
// deno-lint-ignore no-explicit-any
function parse(html: string): any {
  return (parseHTML(html) as unknown as { document: unknown }).document;
}

/** The headline row's cells as text, by column title. */
function headlineCells(html: string): Record<string, string> {
  const table = parse(html).getElementById("headline");
  assert.ok(table, "the summary has the headline row");
  const titles = [...table.querySelectorAll("thead th")].map((th) => th.textContent);
  const cells = [...table.querySelectorAll("tbody td")].map((td) => td.textContent);
  return Object.fromEntries(titles.map((t, i) => [t, cells[i]]));
}

Deno.test("parseRealLabels: each bad entry is an InputError naming the file and its position", () => {
  const fit = { classes: 4, count: 2 };
  const cases: [unknown, RegExp][] = [
    [{ "0": [1] }, /^real\.json: must be a JSON array with one list of class indices per image$/],
    [[[0], 3], /^real\.json\[1\]: must be a list of class indices \(possibly empty\), got 3$/],
    [[[0], [2, 1.5]], /^real\.json\[1\]\[1\]: 1\.5 is not a whole number$/],
    [[[-1], [2]], /^real\.json\[0\]\[0\]: -1 is negative$/],
    [[[0], [4]], /^real\.json\[1\]\[0\]: class 4 is not below the model's 4 classes$/],
    [[["3"], [1]], /^real\.json\[0\]\[0\]: "3" is not a class index$/],
    [[[0]], /^real\.json: has 1 entries, but 2 images are audited: it must list every audited image/],
  ];
  for (const [data, message] of cases) {
    assert.throws(
      () => parseRealLabels(data, "real.json", fit),
      (e) => e instanceof InputError && message.test(e.message),
    );
  }
  // Empty lists are valid (the image is left out), and a longer file covers a --limit prefix.
  assert.deepEqual(parseRealLabels([[0, 3], [], [1]], "real.json", fit), [[0, 3], [], [1]]);
});

Deno.test("readRealLabels: a missing file or one that is not JSON is an InputError naming it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "real-labels-" });
  try {
    const missing = join(dir, "missing.json");
    await assert.rejects(readRealLabels(missing, { classes: 2, count: 1 }), (e) => {
      return e instanceof InputError && e.message.includes(missing);
    });
    const broken = join(dir, "broken.json");
    await Deno.writeTextFile(broken, "[[0], [1");
    await assert.rejects(readRealLabels(broken, { classes: 2, count: 1 }), (e) => {
      return e instanceof InputError && e.message.startsWith(`${broken}: not valid JSON`);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * Six images over 4 classes, each with its valid labels; the comments give what the ReaL figures
 * and the taxonomy must say of each (flat hierarchy: no superclass; margins all 0.7, none low).
 */
const PREDICTIONS: ImagePrediction[] = [
  { index: 0, label: 0, top: [0, 1, 2], probs: [0.8, 0.1, 0.1] }, // right; ReaL right
  { index: 1, label: 1, top: [2, 3, 0], probs: [0.8, 0.1, 0.1] }, // mistake, another object; ReaL right
  { index: 2, label: 2, top: [3, 0, 1], probs: [0.8, 0.1, 0.1] }, // mistake, unexplained; ReaL wrong, top-5 wrong
  { index: 3, label: 3, top: [1, 3, 0], probs: [0.8, 0.1, 0.1] }, // mistake, label in top-5; excluded
  { index: 4, label: 0, top: [0, 2, 3], probs: [0.8, 0.1, 0.1] }, // right, but ReaL wrong; top-5 right
  { index: 5, label: 1, top: [3, 2, 1], probs: [0.8, 0.1, 0.1] }, // mistake, label in top-5; ReaL wrong, top-5 right
];
const REAL = [[0], [1, 2], [2], [], [2], [0, 1]];
const FLAT = Hierarchy.flat(["a", "b", "c", "d"]);

Deno.test("ReaL accuracy and the other-object mistakes, by hand on six images", () => {
  assert.deepEqual(realAccuracy(PREDICTIONS, REAL), { top1: 2 / 5, top5: 4 / 5, counted: 5, excluded: 1 });
  assert.deepEqual(realAccuracy(PREDICTIONS.slice(3, 4), REAL), { top1: null, top5: null, counted: 0, excluded: 1 });

  const { items, counts } = classifyMistakes(PREDICTIONS, FLAT, { depth: 1, real: REAL });
  assert.deepEqual(items.map((m) => m.index), [1, 2, 3, 5]);
  assert.deepEqual(items.map((m) => m.otherObject), [true, false, false, false]);
  assert.deepEqual(counts, {
    total: 4,
    labelInTop5: 2,
    sameSuperclass: 0,
    lowMargin: 0,
    otherObject: 1,
    unexplained: 1,
  });
  // Without real labels: no such key anywhere, and the other-object mistake is unexplained.
  const plain = classifyMistakes(PREDICTIONS, FLAT, { depth: 1 });
  assert.ok(plain.items.every((m) => !("otherObject" in m)));
  assert.deepEqual(plain.counts, { total: 4, labelInTop5: 2, sameSuperclass: 0, lowMargin: 0, unexplained: 2 });
});

Deno.test("headline row: top-1, ReaL top-1, hierarchy- and human-rectified top-1; a dash where there is none", async () => {
  const { dir, report } = await sampleReportFolder({ explanations: false, bias: false });
  try {
    const read = (path: string) => Deno.readFile(join(dir, path));
    const plain = headlineCells(await renderReportHtml(report, read));
    assert.deepEqual(Object.keys(plain), ["top-1", "ReaL top-1", "hierarchy-rectified top-1", "human-rectified top-1"]);
    assert.ok(plain["top-1"].startsWith(pct(19 / 24)), plain["top-1"]);
    assert.ok(plain["ReaL top-1"].startsWith("—no --real-labels file"), plain["ReaL top-1"]);
    assert.ok(plain["hierarchy-rectified top-1"].startsWith(pct(report.accuracy.rectifiedTop1)));
    assert.ok(plain["hierarchy-rectified top-1"].includes("depth 1 of hierarchy.json"));
    assert.ok(plain["human-rectified top-1"].startsWith("—no mistake judged yet"), plain["human-rectified top-1"]);

    // With real labels, a review of 3 of the 5 mistakes (a lower bound), and the other-object count.
    const review = {
      lines: 3,
      malformedLines: 0,
      mistakes: { judged: 3, acceptable: 2, notAcceptable: 1, labelWrong: 0 },
      adversarial: { judged: 0, acceptable: 0, notAcceptable: 0, labelWrong: 0 },
      rectifiedTop1: 21 / 24,
      rectifiedRobustness: null,
      agreement: { withExplanation: null, withoutExplanation: 2 / 3 },
    };
    const counts = { ...report.mistakes.counts, otherObject: 2 };
    const rich: AuditReport = AuditReportSchema.parse({
      ...report,
      accuracy: { ...report.accuracy, real: { top1: 0.9, top5: 1, counted: 20, excluded: 4 } },
      mistakes: { ...report.mistakes, counts },
      review,
    });
    const html = await renderReportHtml(rich, read);
    const cells = headlineCells(html);
    assert.ok(cells["ReaL top-1"].startsWith("90.0%20 images with valid labels (4 without, left out)"));
    assert.ok(cells["ReaL top-1"].endsWith("ReaL top-5 100.0%"));
    assert.ok(cells["human-rectified top-1"].startsWith(`≥ ${pct(21 / 24)}3 of 5 mistakes judged`));
    const summary = parse(html).getElementById("summary").textContent;
    assert.ok(summary.includes("another object in the image (ReaL)2"), "the taxonomy counts other objects");

    const text = formatSummary(rich);
    assert.match(text, /ReaL top-1 90\.0% {3}hierarchy-rectified top-1 \d+\.\d% {3}human-rectified top-1 ≥ 87\.5%/);
    assert.match(text, /another object \(ReaL\) 2/);
    assert.match(formatSummary(report), /ReaL top-1 — {3}.*human-rectified top-1 —/);
    assert.doesNotMatch(formatSummary(report), /another object/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the review re-renders the headline row with the human-rectified top-1 of the judgments", async () => {
  const { dir } = await sampleReportFolder();
  const server = await startReviewServer({ dir, port: 0 });
  try {
    const response = await judge(server, 0, "mistake:8", "acceptable");
    assert.equal(response.status, 200);
    await response.body?.cancel();
    // 19 of 24 right, one of the 5 mistakes judged acceptable: (19 + 1) / 24, a lower bound.
    const human = headlineCells(await Deno.readTextFile(join(dir, "index.html")))["human-rectified top-1"];
    assert.ok(human.startsWith(`≥ ${pct(20 / 24)}1 of 5 mistakes judged`), human);
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

/** A random linear model over 8 classes (it makes many mistakes) and 16 bars images as an IDX pair. */
const setup = (async () => {
  const dir = await Deno.makeTempDir({ prefix: "real-labels-cli-" });
  const modelDir = join(dir, "model");
  await saveModelFolder(modelDir, linearModel(5, 1, 8, 8));
  const data = bars(16, 8, 8, 3);
  return { dir, modelDir, data: await writeIdx(dir, "bars", data), labels: [...data.labels] };
})();

const FAST = [
  "--limit",
  "16",
  "--epsilons",
  "0,0.1",
  "--attack",
  "fgsm",
  "--attack-sample",
  "2",
  "--prototypes",
  "0",
  "--saliency",
  "none",
  "--skip-min-epsilon",
  "--quiet",
];

Deno.test("audit CLI --real-labels: a bad file exits 2 with one line naming it and the position", async () => {
  const { dir, modelDir, data } = await setup;
  const file = join(dir, "bad-real.json");
  await Deno.writeTextFile(file, JSON.stringify([[0], [8]]));
  const out = join(dir, "report-bad");
  const bad = await runCli("audit", [
    "--model",
    modelDir,
    "--data",
    data,
    "--out",
    out,
    "--real-labels",
    file,
    ...FAST,
  ]);
  assert.equal(bad.code, 2, bad.stderr);
  assert.deepEqual(errorLines(bad), [`audit: ${file}[1][0]: class 8 is not below the model's 8 classes`]);
});

Deno.test({
  name:
    "audit CLI --real-labels: ReaL figures and other-object mistakes as computed from the images; the rest unchanged",
  ...gpuTest,
  async fn() {
    const { dir, modelDir, data, labels } = await setup;
    // Valid labels by a rule that knows nothing of the model: every class, the label only, none
    // (excluded), the label and its two successors; 20 entries for 16 audited images.
    const real = Array.from({ length: 20 }, (_, i) => {
      const label = labels[i % labels.length];
      return [[0, 1, 2, 3, 4, 5, 6, 7], [label], [], [label, (label + 1) % 8, (label + 2) % 8]][i % 4];
    });
    const file = join(dir, "real.json");
    await Deno.writeTextFile(file, JSON.stringify(real));
    const run = async (name: string, extra: string[]) => {
      const out = join(dir, name);
      const result = await runCli("audit", ["--model", modelDir, "--data", data, "--out", out, ...FAST, ...extra]);
      assert.equal(result.code, 0, result.stderr);
      const report = AuditReportSchema.parse(JSON.parse(await Deno.readTextFile(join(out, "report.json"))));
      return { report, html: await Deno.readTextFile(join(out, "index.html")) };
    };
    const withReal = await run("report-real", ["--real-labels", file]);
    const plain = await run("report-plain", []);

    // The expected figures, from each image's top classes and the lists above.
    const images = withReal.report.images;
    const counted = images.filter((im) => real[im.index].length > 0);
    const top1 = counted.filter((im) => real[im.index].includes(im.top[0])).length / counted.length;
    const top5 = counted.filter((im) => im.top.some((c) => real[im.index].includes(c))).length / counted.length;
    const other = new Set(
      images.filter((im) => im.top[0] !== im.label && real[im.index].includes(im.top[0])).map((im) => im.index),
    );
    assert.ok(other.size > 0 && top1 < 1, "the fixture has other-object mistakes and ReaL mistakes");
    const r = withReal.report;
    assert.deepEqual(r.accuracy.real, { top1, top5, counted: 12, excluded: 4 });
    assert.equal(r.config.realLabels, file);
    assert.deepEqual(r.mistakes.items.filter((m) => m.otherObject).map((m) => m.index), [...other]);
    assert.equal(r.mistakes.counts.otherObject, other.size);
    const unexplained = r.mistakes.items.filter((m) =>
      !m.labelInTop5 && !m.sameSuperclass && !m.lowMargin && !other.has(m.index)
    );
    assert.equal(r.mistakes.counts.unexplained, unexplained.length);
    assert.ok(headlineCells(withReal.html)["ReaL top-1"].startsWith(pct(top1)));

    // Without the file: real null, no other-object keys, and every other figure the same.
    const p = plain.report;
    assert.equal(p.accuracy.real, null);
    assert.equal(p.config.realLabels, null);
    assert.ok(!("otherObject" in p.mistakes.counts) && p.mistakes.items.every((m) => !("otherObject" in m)));
    assert.ok(headlineCells(plain.html)["ReaL top-1"].startsWith("—"));
    const comparable = (report: AuditReport) => ({
      ...report,
      createdAt: null,
      timings: null,
      config: { ...report.config, realLabels: null },
      accuracy: { ...report.accuracy, real: null },
      mistakes: {
        ...report.mistakes,
        counts: { ...report.mistakes.counts, otherObject: null, unexplained: null },
        items: report.mistakes.items.map(({ otherObject: _, ...m }) => m),
      },
    });
    assert.deepEqual(comparable(r), comparable(p));
  },
});

Deno.test({
  name: "audit --resume may add --real-labels: they shape no batch, so the run it continues is the same run",
  ...gpuTest,
  async fn() {
    const { dir, modelDir, data, labels } = await setup;
    const out = join(dir, "report-resume");
    const settings: AuditOptions = {
      model: modelDir,
      data,
      out,
      limit: 4,
      epsilons: [0, 0.1],
      attack: "fgsm",
      attackSample: 2,
      prototypes: 0,
      saliency: "none",
      skipMinEpsilon: true,
    };
    const stop = new AbortController();
    stop.abort();
    const stopped = await audit(settings, { signal: stop.signal });
    assert.deepEqual(stopped, { stopped: true, batchesKept: 0 });
    const file = join(dir, "resume-real.json");
    await Deno.writeTextFile(file, JSON.stringify(labels.slice(0, 4).map((label) => [label])));
    const resumed = await audit({ ...settings, realLabels: file, resume: true });
    assert.ok(!resumed.stopped);
    // One valid label each, the data's own: ReaL top-1 is top-1.
    const { accuracy } = resumed.report;
    assert.deepEqual(accuracy.real, { top1: accuracy.top1, top5: accuracy.top5, counted: 4, excluded: 0 });
  },
});
