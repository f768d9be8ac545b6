/**
 * `deno task bench`: times our kernels and whole models on this machine's adapter against the
 * adapter's probed peaks and against peer libraries run in the same process on the same inputs,
 * and prints a table (bench/README.md says how to read it), headed by the adapter, the WebGPU
 * backend and the driver it ran on. It warns on a software Vulkan adapter (lavapipe), where GL is
 * usually several times faster.
 *
 *   deno task bench [--only conv2d,gemm,...] [--runs 5] [--cores] [--json [--out FILE]]
 *                   [--families resnet50,vit_b_16] [--family-batch 2]
 *
 * --only   sections to run: conv2d, gemm, pool, softmax, attack, gram, saliency, models, resnet18,
 *          families, explain (each saliency method's milliseconds per image, digits and
 *          ResNet-18-shaped at 224; run last, minutes) and decode (JPEG decode + resize + crop in the
 *          decode workers, on the CPU; run first, and alone it needs no GPU)
 * --families  the torchvision families of the families section (default all twenty; bench/families.ts)
 * --family-batch  images per pass in the families section (default 2)
 * --runs   timed runs per case after the warm-up (best kept)
 * --cores  also time the conv2d and GEMM cases on every GEMM core (the tiled one compiles for
 *          minutes on llvmpipe)
 * --json   write every figure as JSON, with the adapter, backend, driver, Deno version and date: to
 *          --out FILE, or to stdout (the table then goes to stderr)
 */
import { parseArgs } from "node:util";
import { Gpu } from "../kernels/gpu.ts";
import { conv2dDefaults, type Conv2dGeometry } from "../kernels/conv2d.ts";
import { GEMM_CORES } from "../kernels/gemm.ts";
import { loadModelFolder } from "../pipeline/model/model_folder.ts";
import type { BenchCase } from "./case.ts";
import { attackCase, convCases, gemmCase, gramCase, poolCases, softmaxCases } from "./kernel_cases.ts";
import { modelCases } from "./model_cases.ts";
import { resnet18 } from "./resnet18.ts";
import { probeAdapter } from "./probes.ts";
import { measure } from "./measure.ts";
import { type BenchReport, figures, table } from "./report.ts";
import { GpuTimer } from "./timer.ts";
import { cachedProbe, softwareVulkanWarning } from "./backend_warning.ts";
import { decodeBench, type DecodeFigures, decodeTable } from "./decode.ts";
import { familyBench, type FamilyRow, familyTable } from "./families.ts";
import { FAMILIES } from "../tests/torchvision_families.ts";
import { explainBench, type ExplainFigures, explainTable } from "./explain.ts";

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    only: { type: "string" },
    runs: { type: "string", default: "5" },
    cores: { type: "boolean", default: false },
    json: { type: "boolean", default: false },
    out: { type: "string" },
    families: { type: "string" },
    "family-batch": { type: "string", default: "2" },
  },
});
const runs = Number(flags.runs);
if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a positive integer, got ${flags.runs}`);
const log = flags.json && !flags.out ? console.error : console.log;
const familyBatch = Number(flags["family-batch"]);
if (!Number.isInteger(familyBatch) || familyBatch < 1 || familyBatch > 64) {
  throw new Error(`--family-batch must be an integer from 1 to 64, got ${flags["family-batch"]}`);
}
const families = flags.families?.split(",") ?? [...FAMILIES];
const unknownFamilies = families.filter((f) => !(FAMILIES as readonly string[]).includes(f));
if (unknownFamilies.length > 0) {
  throw new Error(`--families: no family ${unknownFamilies.join(", ")} (families: ${FAMILIES.join(", ")})`);
}

async function writeJson(value: unknown): Promise<void> {
  const json = JSON.stringify(value, null, 2);
  if (flags.out) await Deno.writeTextFile(flags.out, json + "\n");
  else console.log(json);
}

// The decode section needs no GPU: it runs before the adapter is opened, and on its own without it.
let decode: DecodeFigures[] | undefined;
if (!flags.only || flags.only.split(",").includes("decode")) {
  log("  decode: JPEG decode + resize + crop, 1 worker and one per core...");
  decode = await decodeBench();
  log(decodeTable(decode));
  if (flags.only === "decode") {
    if (flags.json) await writeJson({ date: new Date().toISOString(), deno: Deno.version, decode });
    Deno.exit(0);
  }
}

const gpu = await Gpu.create();
using timer = new GpuTimer(gpu);
// Before the minutes of measuring, so a run on the slow backend can be stopped and started on the fast one.
const backendWarning = softwareVulkanWarning(gpu.adapter, await cachedProbe());
if (backendWarning) console.warn(backendWarning);

/** The conv2d shape of the speed targets, and the audit's own (digits block 2 at batch 64). */
const convTarget: Conv2dGeometry = {
  ...conv2dDefaults,
  batch: 32,
  inChannels: 64,
  inHeight: 16,
  inWidth: 16,
  outChannels: 64,
  kernelHeight: 3,
  kernelWidth: 3,
  padH: 1,
  padW: 1,
};
const convAudit: Conv2dGeometry = {
  ...convTarget,
  batch: 64,
  inChannels: 16,
  outChannels: 32,
  inHeight: 14,
  inWidth: 14,
};
/** Strided input gradients of ResNet-50 at batch 2: layer 2's 3x3, and the 7x7 stem on 3 channels. */
const convStrided: Conv2dGeometry = {
  ...convTarget,
  batch: 2,
  inChannels: 128,
  outChannels: 128,
  inHeight: 56,
  inWidth: 56,
  strideH: 2,
  strideW: 2,
};
const convStem: Conv2dGeometry = {
  ...convStrided,
  inChannels: 3,
  outChannels: 64,
  inHeight: 224,
  inWidth: 224,
  kernelHeight: 7,
  kernelWidth: 7,
  padH: 3,
  padW: 3,
};
const backwardInput = (cases: BenchCase[]) => cases.filter((c) => c.name === "backward input");
const otherCores = flags.cores ? GEMM_CORES : [];
const normalization = { mean: [0, 0, 0], std: [1, 1, 1] };

const sections: Record<string, () => BenchCase[] | Promise<BenchCase[]>> = {
  conv2d: () => [
    ...convCases(gpu, timer, "N=32 C=64->64 16x16 3x3", convTarget, { target: { peerRatio: 3 } }),
    ...convCases(gpu, timer, "N=64 C=16->32 14x14 3x3", convAudit),
    ...backwardInput(convCases(gpu, timer, "N=2 C=3->64 224x224 7x7/2 (stem)", convStem)),
    ...backwardInput(convCases(gpu, timer, "N=2 C=128->128 56x56 3x3/2", convStrided)),
    ...otherCores.flatMap((core) => convCases(gpu, timer, "N=32 C=64->64 16x16 3x3", convTarget, { core })),
  ],
  gemm: () => [
    gemmCase(gpu, timer, 1024, { target: { peerRatio: 3 } }),
    ...otherCores.map((core) => gemmCase(gpu, timer, 1024, { core })),
  ],
  pool: () => poolCases(gpu, timer, [32, 64, 64, 64]),
  softmax: () => softmaxCases(gpu, timer, 4096, 1000),
  attack: () => [attackCase(gpu, timer, [64, 3, 224, 224])],
  gram: () => [gramCase(gpu, timer, 8192, 256, { target: { fmaShare: 0.3 } })],
  saliency: async () =>
    modelCases(gpu, timer, "digits", await loadModelFolder("fixtures/models/digits"), 64, { passes: ["saliency"] }),
  models: async () => [
    ...await modelCases(gpu, timer, "digits", await loadModelFolder("fixtures/models/digits"), 64, {
      passes: ["forward", "training"],
    }),
    ...await modelCases(gpu, timer, "fashion", await loadModelFolder("fixtures/models/fashion"), 64, {
      passes: ["forward", "training"],
    }),
  ],
  resnet18: () => {
    const { graph, weights } = resnet18({ classes: 1000, size: 224, seed: 1 });
    return modelCases(gpu, timer, "ResNet-18-shaped 224x224", { graph, weights, manifest: { normalization } }, 8, {
      passes: ["forward", "training"],
      ortPeer: true,
      forwardTarget: { peerRatio: 0.1 },
    });
  },
};

// The families section measures one family at a time (its weights on the GPU only while measured), so it
// is not a list of cases up front.
const only = flags.only?.split(",") ?? [...Object.keys(sections), "families", "explain"];
const chosen = only.filter((name) => name !== "decode" && name !== "families" && name !== "explain");
const unknown = chosen.filter((name) => !(name in sections));
if (unknown.length > 0) {
  throw new Error(
    `--only: no section ${unknown.join(", ")} (sections: ${
      Object.keys(sections).join(", ")
    }, families, explain, decode)`,
  );
}

log(`probing ${gpu.adapter.description}...`);
const probes = await probeAdapter(gpu, timer);
const measured = [];
for (const name of chosen) {
  for (const c of await sections[name]()) {
    log(`  ${c.group}: ${c.name}, ${c.shape}`);
    measured.push(await measure(c, runs));
  }
}
let familyRows: FamilyRow[] | undefined;
if (only.includes("families")) {
  familyRows = await familyBench(gpu, timer, families, { batch: familyBatch, runs, log });
  for (const row of familyRows) if (!("error" in row)) measured.push(row.forward, row.backward);
}
const report: BenchReport = {
  date: new Date().toISOString(),
  deno: Deno.version,
  adapter: gpu.adapter,
  timing: timer.method,
  runs,
  probes,
  cases: figures(measured, probes),
};
if (measured.length > 0) log(table(report));
if (familyRows) log(`\ntorchvision families at 224x224:\n${familyTable(familyRows)}`);
if (decode) log(`\n${decodeTable(decode)}`);
// The explanation stage per method and image: whole calls with their host work, so outside the kernel cases.
let explain: ExplainFigures[] | undefined;
if (only.includes("explain")) {
  log("  explain: every saliency method, digits and ResNet-18-shaped 224x224...");
  const before = Deno.loadavg();
  const { graph, weights } = resnet18({ classes: 1000, size: 224, seed: 1 });
  explain = await explainBench(gpu, [
    { label: "digits 28x28", model: await loadModelFolder("fixtures/models/digits"), images: 16, slow: [] },
    {
      label: "ResNet-18-shaped 224x224",
      model: { graph, weights, manifest: { normalization } },
      images: 2,
      slow: ["smoothGrad", "integratedGradients", "occlusion"],
    },
  ], runs);
  log(`\n${explainTable(explain, gpu.adapter, { before, after: Deno.loadavg() })}`);
}
if (flags.json) {
  const families = familyRows?.map((
    row,
  ) => ("error" in row ? row : { ...row, forward: undefined, backward: undefined }));
  await writeJson({
    ...report,
    ...(decode ? { decode } : {}),
    ...(families ? { families } : {}),
    ...(explain ? { explain } : {}),
  });
}
