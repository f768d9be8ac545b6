/**
 * The bias tool's known answer, through the audit command as a user runs it: `digits-marked` was
 * trained with a 4x4 marker (rows 1-4, columns 23-26) on 95% of its training 7s and 1% of other
 * digits. Over the mnist test digits with the marker stamped on a seeded half (written as IDX
 * files) and `--groups` saying which half, the audit must flag class 7, find the marked and clean
 * images predicted 7 different in feature space (MMD, p < 0.01), and put the peak of class 7's
 * mean prototype saliency within 2 pixels of the marker. The unbiased `digits` model (trained
 * with random bright squares, `--patch-rate`), on the same images and groups, flags no class.
 * Without `--groups`, the slice search finds a slice of class 7's mistakes made of marked images,
 * and none on the unbiased model. The marker as a counterfactual edit on the unmarked test digits
 * flips the marked model into 7 at the rate the marked half was pulled into 7 (the planted
 * effect, measured on other images), and the unbiased model almost never.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { type AuditReport, AuditReportSchema } from "../pipeline/schema/report.ts";
import { formatGroupsCsv } from "../pipeline/bias/groups.ts";
import { openDataSource } from "../pipeline/data/mod.ts";
import { readAll } from "../pipeline/data/in_memory.ts";
import { applyMarker, chooseMarked, DIGITS_MARKER } from "../pipeline/data/marker.ts";
import { writeIdx } from "./audit_fixture.ts";
import { runCli } from "./cli_helpers.ts";
import { gpuTest } from "./gpu_fixture.ts";
import { sizeOf } from "../pipeline/io/size_of.ts";

const MODELS = new URL("../fixtures/models/", import.meta.url).pathname;
const available = ["digits", "digits-marked"].every((m) => existsSync(`${MODELS}${m}/weights.safetensors`));

let cached: Promise<{ dir: string; data: string; groups: string; marked: Uint8Array }> | null = null;

/** The mnist test digits with the marker on a seeded half as IDX files, and the groups CSV saying which. */
function markedHalf(): Promise<{ dir: string; data: string; groups: string; marked: Uint8Array }> {
  cached ??= (async () => {
    const data = await readAll(await openDataSource("mnist:test"));
    const marked = chooseMarked(data.labels, 7, 0.5, 0.5, 2024);
    const per = sizeOf(data.shape);
    const groups = new Map<number, string>();
    marked.forEach((m, i) => {
      if (m) applyMarker(data.images.subarray(i * per, (i + 1) * per), data.shape, DIGITS_MARKER);
      groups.set(i, m ? "marked" : "clean");
    });
    const dir = await Deno.makeTempDir({ prefix: "bias-known-answer-" });
    const groupsPath = join(dir, "groups.csv");
    await Deno.writeTextFile(groupsPath, formatGroupsCsv(groups));
    return { dir, data: await writeIdx(dir, "marked-half", data), groups: groupsPath, marked };
  })();
  return cached;
}

const MARKER_SPEC = JSON.stringify({ class: 7, patch: { ...DIGITS_MARKER } });
const audits = new Map<string, Promise<AuditReport>>();

/**
 * The audit of `model` (the bias stage in full, the other stages kept small), cached: over the
 * marked half with or without its groups, or (`clean`) over the unmarked test digits with the
 * marker as the counterfactual edit.
 */
function audit(model: string, run: "groups" | "no-groups" | "clean" = "groups"): Promise<AuditReport> {
  const key = `${model}-${run}`;
  if (!audits.has(key)) {
    audits.set(
      key,
      (async () => {
        const { dir, data, groups } = await markedHalf();
        const out = join(dir, `report-${key}`);
        const inputs = run === "clean"
          ? ["--data", "mnist:test", "--counterfactual", MARKER_SPEC]
          : ["--data", data, ...(run === "groups" ? ["--groups", groups] : [])];
        const result = await runCli("audit", [
          ...["--model", MODELS + model, ...inputs, "--out", out, "--seed", "1"],
          ...[
            "--attack",
            "fgsm",
            "--attack-sample",
            "64",
            "--skip-min-epsilon",
            "--shown",
            "2",
            "--sanity-images",
            "0",
          ],
          "--quiet",
        ]);
        assert.equal(result.code, 0, result.stderr);
        return AuditReportSchema.parse(JSON.parse(await Deno.readTextFile(join(out, "report.json"))));
      })(),
    );
  }
  return audits.get(key)!;
}

function describe(report: AuditReport): string {
  return report.bias!.classes.map((c) =>
    `${c.name}: pool ${c.poolSize}, flagged ${c.flagged} ` +
    (c.groups ?? []).map((g) =>
      `${g.group} ${g.intoClass.count}/${g.intoClass.of} p_adj ${g.adjustedPValue.toExponential(2)}`
    ).join(", ") +
    ` mmd p ${c.mmd?.map((m) => m.pValue).join("/")}`
  ).join("\n");
}

Deno.test({
  name: "bias known answer: digits-marked flags class 7, MMD marked vs clean p < 0.01, saliency peak on the marker",
  ignore: !available,
  ...gpuTest,
  async fn() {
    const report = await audit("digits-marked");
    const seven = report.bias!.classes.find((c) => c.label === 7)!;
    assert.ok(seven.flagged && seven.flaggedGroups.includes("marked"), `class 7 not flagged:\n${describe(report)}`);
    const test = seven.mmd!.find((m) => m.groups.includes("marked") && m.groups.includes("clean"))!;
    assert.ok(test.pValue < 0.01, `MMD marked vs clean among 7s: p = ${test.pValue}`);
    const { row, column } = seven.meanPrototypeSaliency!.peak;
    const [top, bottom] = DIGITS_MARKER.rows, [left, right] = DIGITS_MARKER.columns;
    const off = Math.max(top - row, row - bottom, left - column, column - right, 0);
    assert.ok(off <= 2, `class 7's mean prototype saliency peaks at (${row}, ${column}), ${off} px off the marker`);
    assert.ok(seven.grid, "class 7's picture is in the report");
  },
});

Deno.test({
  name: "bias known answer: the unbiased digits model, same images and groups, flags no class",
  ignore: !available,
  ...gpuTest,
  async fn() {
    const report = await audit("digits");
    const flagged = report.bias!.classes.filter((c) => c.flagged);
    assert.deepEqual(flagged.map((c) => c.name), [], `the unbiased model flags a class:\n${describe(report)}`);
    assert.equal(report.bias!.classes.length, 10);
    assert.ok(report.bias!.settings.comparisons > 0, "groups were tested");
  },
});

Deno.test({
  name:
    "bias known answer: without --groups, a slice of class 7's mistakes made of marked images; none on the unbiased model",
  ignore: !available,
  ...gpuTest,
  async fn() {
    const { marked } = await markedHalf();
    const report = await audit("digits-marked", "no-groups");
    const found = report.bias!.classes.flatMap((c) => (c.slices ?? []).filter((s) => s.found).map((s) => ({ c, s })));
    const table = found.map(({ c, s }) => `${c.name}: ${s.mistakes}/${s.size} p_adj ${s.adjustedPValue}`).join("\n");
    assert.ok(found.length > 0 && found[0].c.label === 7, `slices found:\n${table}`);
    const top = found.find(({ c }) => c.label === 7)!.s;
    assert.ok(top.errorRate >= 0.5 && top.share >= 0.05, table);
    // Its prototypes: marked images (the slice search never saw which).
    const markedShare = top.prototypes.filter((p) => marked[p.index] === 1).length / top.prototypes.length;
    assert.ok(markedShare >= 0.75, `prototypes ${top.prototypes.map((p) => p.index)}: ${markedShare} marked`);
    assert.ok(report.bias!.classes.every((c) => !c.flagged), "no group file, no flag");

    const clean = await audit("digits", "no-groups");
    const falseAlarms = clean.bias!.classes.flatMap((c) => (c.slices ?? []).filter((s) => s.found));
    assert.deepEqual(falseAlarms, [], "the unbiased model has no slice above the threshold");
  },
});

Deno.test({
  name:
    "bias known answer: the marker as a counterfactual reproduces the planted pull into 7; the unbiased model does not flip",
  ignore: !available,
  ...gpuTest,
  async fn() {
    // The planted effect: marked images of other digits predicted 7, over the clean ones' rate.
    const seven = (await audit("digits-marked")).bias!.classes[7];
    const [clean, marked] = ["clean", "marked"].map((g) => seven.groups!.find((f) => f.group === g)!.intoClass);
    const planted = marked.rate - clean.rate;
    const test = (await audit("digits-marked", "clean")).bias!.counterfactual!;
    assert.equal(test.label, 7);
    assert.ok(test.flips.of >= 400, `${test.flips.of} images edited`);
    const [low, high] = test.interval;
    assert.ok(
      low <= planted && planted <= high,
      `counterfactual ${test.flips.count}/${test.flips.of} [${low}, ${high}], planted ${planted}`,
    );
    assert.ok(low > 0.01, "the edit alone pulls digits into 7");
    const unbiased = (await audit("digits", "clean")).bias!.counterfactual!;
    assert.ok(unbiased.interval[1] < 0.02, `unbiased model: ${unbiased.flips.count}/${unbiased.flips.of}`);
  },
});
