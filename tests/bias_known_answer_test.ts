/**
 * The bias tool's known answer (issue 5): `digits-marked` was trained with a 4x4 marker (rows 1-4,
 * columns 23-26) on 95% of its training 7s and 1% of other digits. Over the mnist test digits with
 * the marker stamped on a seeded half, and groups saying which half, the tool must flag class 7,
 * find the marked and clean images predicted 7 different in feature space (MMD, p < 0.01), and put
 * the peak of class 7's mean prototype saliency within 2 pixels of the marker. The unbiased
 * `digits` model, on the same images and groups, must not flag class 7 (see the second test for
 * why "no class at all" does not hold for it).
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { runBiasStage } from "../pipeline/bias/bias_stage.ts";
import { formatGroupsCsv, parseGroupsCsv } from "../pipeline/bias/groups.ts";
import type { BiasReport } from "../pipeline/bias/report_schema.ts";
import { BiasReportSchema } from "../pipeline/bias/report_schema.ts";
import { openDataSource } from "../pipeline/data/mod.ts";
import type { Example } from "../pipeline/data/types.ts";
import { Executor } from "../pipeline/executor.ts";
import { collectFeatures } from "../pipeline/explain/features.ts";
import { type InMemoryData, readAll } from "../pipeline/in_memory.ts";
import { applyMarker, chooseMarked, DIGITS_MARKER } from "../pipeline/marker.ts";
import { loadModelFolder } from "../pipeline/model_folder.ts";
import { gpuTest, testGpu } from "./gpu_fixture.ts";

const MODELS = new URL("../fixtures/models/", import.meta.url).pathname;
const available = ["digits", "digits-marked"].every((m) => existsSync(`${MODELS}${m}/weights.safetensors`));

let cached: Promise<{ data: InMemoryData; groupsCsv: string }> | null = null;

/** The mnist test digits with the marker on a seeded half, and the groups CSV saying which. */
function markedHalf(): Promise<{ data: InMemoryData; groupsCsv: string }> {
  cached ??= stampHalf();
  return cached;
}

async function stampHalf(): Promise<{ data: InMemoryData; groupsCsv: string }> {
  const data = await readAll(await openDataSource("mnist:test"));
  const marked = chooseMarked(data.labels, 7, 0.5, 0.5, 2024);
  const per = data.shape.reduce((a, b) => a * b, 1);
  const groups = new Map<number, string>();
  marked.forEach((m, i) => {
    if (m) applyMarker(data.images.subarray(i * per, (i + 1) * per), data.shape, DIGITS_MARKER);
    groups.set(i, m ? "marked" : "clean");
  });
  return { data, groupsCsv: formatGroupsCsv(groups) };
}

async function* examplesOf(data: InMemoryData): AsyncGenerator<Example> {
  const per = data.shape.reduce((a, b) => a * b, 1);
  for (let i = 0; i < data.count; i++) {
    yield { index: i, image: data.images.subarray(i * per, (i + 1) * per), label: data.labels[i] };
  }
}

async function audit(model: string, data: InMemoryData, groupsCsv: string): Promise<BiasReport> {
  const gpu = await testGpu();
  const files = await loadModelFolder(MODELS + model);
  using exec = await Executor.create(gpu, files);
  const table = await collectFeatures(exec, examplesOf(data));
  const per = data.shape.reduce((a, b) => a * b, 1);
  const images = (indices: number[]) => {
    const out = new Float32Array(indices.length * per);
    indices.forEach((index, i) => out.set(data.images.subarray(index * per, (index + 1) * per), i * per));
    return Promise.resolve(out);
  };
  const groups = parseGroupsCsv(groupsCsv, "groups.csv", { count: data.count });
  const report = await runBiasStage(gpu, {
    table,
    classNames: files.manifest.classes,
    groups,
    saliency: { exec, images },
  }, { seed: 1 });
  return BiasReportSchema.parse(report);
}

function describe(report: BiasReport): string {
  return report.classes.map((c) =>
    `${c.name}: pool ${c.poolSize}, flagged ${c.flagged} ` +
    (c.groups ?? []).map((g) =>
      `${g.group} ${g.intoClass.count}/${g.intoClass.of} p_adj ${g.adjustedPValue.toExponential(2)}`
    )
      .join(", ") +
    ` mmd p ${c.mmd?.map((m) => m.pValue).join("/")}`
  ).join("\n");
}

Deno.test({
  name: "bias known answer: digits-marked flags class 7, MMD marked vs clean p < 0.01, saliency peak on the marker",
  ignore: !available,
  ...gpuTest,
  async fn() {
    const { data, groupsCsv } = await markedHalf();
    const report = await audit("digits-marked", data, groupsCsv);
    const seven = report.classes.find((c) => c.label === 7)!;
    assert.ok(seven.flagged && seven.flaggedGroups.includes("marked"), `class 7 not flagged:\n${describe(report)}`);
    const test = seven.mmd!.find((m) => m.groups.includes("marked") && m.groups.includes("clean"))!;
    assert.ok(test.pValue < 0.01, `MMD marked vs clean among 7s: p = ${test.pValue}`);
    const { row, column } = seven.meanPrototypeSaliency!.peak;
    const [top, bottom] = DIGITS_MARKER.rows, [left, right] = DIGITS_MARKER.columns;
    const off = Math.max(top - row, row - bottom, left - column, column - right, 0);
    assert.ok(off <= 2, `class 7's mean prototype saliency peaks at (${row}, ${column}), ${off} px off the marker`);
  },
});

Deno.test({
  name: "bias known answer: the unbiased digits model, same images and groups, does not flag class 7",
  ignore: !available,
  ...gpuTest,
  async fn() {
    const { data, groupsCsv } = await markedHalf();
    const report = await audit("digits", data, groupsCsv);
    const seven = report.classes.find((c) => c.label === 7)!;
    assert.ok(!seven.flagged, `the unbiased model flags 7:\n${describe(report)}`);
    // Not asserted: "flags no class at all". The shipped `digits` never saw the marker, and a
    // white square at the top right completes the top bar of a 5: stamped on every test image it
    // turns 35 of 3s and 15 of 9s (of ~200 each) into 5s. So the tool flags class 5 for the
    // marked group (44/957 vs 1/864 clean, Bonferroni p ~ 1e-10), which is a true finding about
    // that model, not a false alarm.
  },
});
