/**
 * The paper's setting with answers known by construction: a 1,000-class ONNX model over WordNet
 * classes, an ImageNet validation folder (one folder per wnid, generated JPEGs), WordNet as the
 * hierarchy and a ReaL file. The model is a nearest-template classifier over 4x4 blocks of mean
 * colour, and each image is painted with the template of the class it is meant to be predicted as,
 * so every prediction is known before the audit runs. The expected taxonomy, severities and ReaL
 * figures are computed here from those planned predictions and from WordNet paths that
 * tests/imagenet_fixture.py finds with its own parser.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { mulberry32 } from "../pipeline/io/prng.ts";
import { AuditReportSchema } from "../pipeline/schema/report.ts";
import { errorLines, runCli } from "./cli_helpers.ts";
import { floatTensor, OnnxBuilder } from "./onnx_builder.ts";

const PYTHON = "/usr/bin/python3";
const FIXTURE = new URL("./imagenet_fixture.py", import.meta.url).pathname;

async function python(args: string[], stdin = ""): Promise<string> {
  const child = new Deno.Command(PYTHON, { args: [FIXTURE, ...args], stdin: "piped", stdout: "piped", stderr: "piped" })
    .spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(stdin));
  await writer.close();
  const out = await child.output();
  if (out.code !== 0) throw new Error(`imagenet_fixture.py ${args[0]}: ${new TextDecoder().decode(out.stderr)}`);
  return new TextDecoder().decode(out.stdout);
}

/** Blocks per side of a template, and the input side (4 x 8 pixels). */
const GRID = 4;
const SIDE = 32;
/** Logit scale: the nearest template wins by several logits. */
const SCALE = 10;
const LOW = 0.25, HIGH = 0.75;

/** One seeded 3 x 4 x 4 code of LOW/HIGH values per class, pairwise at least 6 entries apart. */
function templates(classes: number, seed: number): Float32Array[] {
  const random = mulberry32(seed);
  const codes: Float32Array[] = [];
  while (codes.length < classes) {
    const code = Float32Array.from({ length: 3 * GRID * GRID }, () => (random() < 0.5 ? LOW : HIGH));
    const near = codes.some((other) => other.filter((v, i) => v !== code[i]).length < 6);
    if (!near) codes.push(code);
  }
  return codes;
}

/** AveragePool 8x8 -> Flatten -> Gemm: logits_k = SCALE (<t_k, f> - |t_k|^2 / 2), nearest template first. */
function nearestTemplateModel(codes: Float32Array[]): Uint8Array {
  const b = new OnnxBuilder(17);
  const width = 3 * GRID * GRID;
  const w = new Float32Array(codes.length * width);
  const bias = new Float32Array(codes.length);
  codes.forEach((code, k) => {
    code.forEach((v, i) => (w[k * width + i] = SCALE * v));
    bias[k] = -SCALE * code.reduce((s, v) => s + v * v, 0) / 2;
  });
  const pool = SIDE / GRID;
  let x = b.op("AveragePool", ["image"], { kernel_shape: { ints: [pool, pool] }, strides: { ints: [pool, pool] } });
  x = b.op("Flatten", [x]);
  x = b.op("Gemm", [
    x,
    b.init(floatTensor("fc.w", [codes.length, width], w)),
    b.init(floatTensor("fc.b", [codes.length], bias)),
  ], {
    transB: { i: 1 },
  });
  return b.build({ name: "image", dims: ["N", 3, SIDE, SIDE] }, { name: x, dims: ["N", codes.length] });
}

/**
 * The images, in file-name order: label, the class the image is painted as, and its ReaL list
 * (by wnid; empty: no valid label, left out of ReaL figures). Fillers are classes of the fixture
 * set away from the named ones (their index into the non-named wnids).
 */
const PLAN: { label: string | number; painted: string | number; real: (string | number)[] }[] = [
  { label: "n02123045", painted: "n02123045", real: ["n02123045"] }, // tabby, right
  { label: "n02123045", painted: "n02123159", real: ["n02123045", "n02123159"] }, // tiger cat: in the image too
  { label: "n02123159", painted: "n02124075", real: ["n02123159"] }, // Egyptian cat: a sibling
  { label: "n01440764", painted: "n01443537", real: ["n01440764"] }, // tench as goldfish: siblings
  { label: "n03063599", painted: "n07920052", real: ["n03063599", "n07920052"] }, // mug as espresso: far, both there
  { label: "n03063599", painted: "n03063599", real: ["n03063599"] },
  { label: "n03773504", painted: "n04008634", real: ["n03773504", "n04008634"] }, // missile as projectile
  { label: "n04266014", painted: "n04266014", real: [] }, // no valid label: out of ReaL
  { label: "n03785016", painted: "n03791053", real: ["n03785016"] }, // moped as motor scooter
  { label: "n03785016", painted: "n03792782", real: ["n03785016"] }, // moped as mountain bike
  { label: "n03791053", painted: "n03791053", real: ["n03791053"] },
  { label: "n07920052", painted: 17, real: ["n07920052"] }, // espresso as a filler: far
  { label: 5, painted: 5, real: [5] },
  { label: 400, painted: "n02123045", real: [400] }, // a filler as tabby
];
/** The order the plan's images get on disk: file names interleave the classes' folders. */
const FILE_ORDER = [3, 0, 7, 12, 1, 9, 4, 13, 2, 10, 6, 5, 11, 8];

interface Fixture {
  dir: string;
  model: string;
  data: string;
  real: string;
  wnids: string[];
  /** Each class's WordNet path from entity (wnids), by the reference. */
  paths: string[][];
  /** label and prediction (class indices) per image, in file-name order. */
  expected: { label: number; predicted: number; real: number[] }[];
}

async function buildFixture(): Promise<Fixture> {
  const dir = await Deno.makeTempDir({ prefix: "imagenet-known-" });
  const { wnids, names, fillers } = JSON.parse(await python(["wnids", "1000"])) as Record<string, string[]>;
  const reference = JSON.parse(await python(["reference"], JSON.stringify({ wnids }))) as {
    paths: Record<string, [string, string][]>;
  };
  const paths = wnids.map((w) => reference.paths[w].map(([node]) => node));
  const index = (c: string | number) => wnids.indexOf(typeof c === "number" ? fillers[c] : c);
  const codes = templates(wnids.length, 2018);
  const model = join(dir, "net.onnx");
  await Deno.writeFile(model, nearestTemplateModel(codes));
  await Deno.writeTextFile(
    `${model}.json`,
    JSON.stringify({
      name: "nearest-template-1000",
      classes: names,
      wnids,
      normalization: { mean: [0, 0, 0], std: [1, 1, 1] },
      preprocess: { resize: SIDE, crop: SIDE, interpolation: "bilinear" },
    }),
  );
  // 80x64 photos: resized to 40x32, the centre crop keeps x 8..72 of the original, where the blocks are.
  const data = join(dir, "val");
  const images = [];
  const expected: Fixture["expected"] = new Array(PLAN.length);
  for (const [k, plan] of PLAN.entries()) {
    const position = FILE_ORDER[k];
    const label = index(plan.label), predicted = index(plan.painted);
    expected[position] = { label, predicted, real: plan.real.map(index) };
    const folder = join(data, wnids[label]);
    await Deno.mkdir(folder, { recursive: true });
    const code = codes[predicted];
    const blocks = Array.from(
      { length: GRID },
      (_, r) =>
        Array.from(
          { length: GRID },
          (_, c) => [0, 1, 2].map((ch) => Math.round(255 * code[(ch * GRID + r) * GRID + c])),
        ),
    );
    const file = `ILSVRC2012_val_${String(position + 1).padStart(8, "0")}.JPEG`;
    images.push({ path: join(folder, file), width: 80, height: 64, box: [8, 0, 72, 64], blocks });
  }
  const spec = join(dir, "spec.json");
  await Deno.writeTextFile(spec, JSON.stringify({ images, quality: 95 }));
  await python(["jpegs", spec]);
  const real = join(dir, "real.json");
  await Deno.writeTextFile(real, JSON.stringify(expected.map((e) => e.real)));
  return { dir, model, data: `imagenet:${data}`, real, wnids, paths, expected };
}

/** Depth of the lowest common ancestor of two paths from the root. */
function lcaDepth(a: string[], b: string[]): number {
  let shared = 0;
  while (shared < a.length && shared < b.length && a[shared] === b[shared]) shared++;
  return shared - 1;
}

/** The superclass depth the test rectifies at: "chordate" for the cats and fish, "vehicle" for the bikes. */
const DEPTH = 7;

Deno.test("ImageNet known answers: a 1,000-class audit with WordNet and ReaL gives the planned figures", async () => {
  const fx = await buildFixture();
  try {
    const out = join(fx.dir, "report");
    const result = await runCli("audit", [
      "--model",
      fx.model,
      "--data",
      fx.data,
      "--hierarchy",
      "wordnet",
      "--real-labels",
      fx.real,
      "--out",
      out,
      "--attack",
      "fgsm",
      "--skip-min-epsilon",
      "--shown",
      "4",
      "--sanity-images",
      "0",
      "--prototypes",
      "2",
      "--criticisms",
      "1",
      "--superclass-depth",
      String(DEPTH),
      "--quiet",
    ]);
    assert.equal(result.code, 0, errorLines(result).join("\n"));
    const report = AuditReportSchema.parse(JSON.parse(await Deno.readTextFile(join(out, "report.json"))));
    const predicted = report.images.map((image) => image.top[0]);
    assert.deepEqual(report.images.map((image) => image.label), fx.expected.map((e) => e.label));
    assert.deepEqual(predicted, fx.expected.map((e) => e.predicted));

    const n = fx.expected.length;
    const mistakes = fx.expected.filter((e) => e.predicted !== e.label);
    const right = n - mistakes.length;
    assert.equal(report.accuracy.top1, right / n);
    const lca = (e: { label: number; predicted: number }) => lcaDepth(fx.paths[e.label], fx.paths[e.predicted]);
    const withinDepth = mistakes.filter((e) => lca(e) >= DEPTH).length;
    assert.equal(report.mistakes.counts.sameSuperclass, withinDepth);
    assert.equal(report.accuracy.rectifiedTop1, (right + withinDepth) / n);

    // Severity: edges from the label up to the lowest common ancestor.
    const severities = mistakes.map((e) => fx.paths[e.label].length - 1 - lca(e));
    const figures = report.hierarchy!;
    assert.equal(figures.severity.mistakes, mistakes.length);
    assert.ok(Math.abs(figures.severity.mean! - severities.reduce((a, b) => a + b, 0) / mistakes.length) < 1e-12);
    const maxDepth = Math.max(...fx.paths.map((p) => p.length - 1));
    assert.equal(figures.depths.length, maxDepth - 1);
    for (const row of figures.depths) {
      assert.equal(row.mistakesWithin, mistakes.filter((e) => lca(e) >= row.depth).length, `depth ${row.depth}`);
    }
    for (const entry of figures.severity.perClass) {
      const own = mistakes.map((e, k) => ({ e, s: severities[k] })).filter(({ e }) => e.label === entry.label);
      assert.equal(entry.mistakes, own.length);
      assert.ok(Math.abs(entry.mean - own.reduce((a, { s }) => a + s, 0) / own.length) < 1e-12);
    }
    assert.equal(figures.severity.perClass.length, new Set(mistakes.map((e) => e.label)).size);

    // ReaL: images with a list count; right when the top-1 is in it; "another object" when a mistake's is.
    const counted = fx.expected.filter((e) => e.real.length > 0);
    assert.deepEqual(
      report.accuracy.real && {
        top1: report.accuracy.real.top1,
        counted: report.accuracy.real.counted,
        excluded: report.accuracy.real.excluded,
      },
      {
        top1: counted.filter((e) => e.real.includes(e.predicted)).length / counted.length,
        counted: counted.length,
        excluded: n - counted.length,
      },
    );
    assert.equal(report.mistakes.counts.otherObject, mistakes.filter((e) => e.real.includes(e.predicted)).length);
  } finally {
    await Deno.remove(fx.dir, { recursive: true });
  }
});
