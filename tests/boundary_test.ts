/**
 * Checks at the boundary, each through the real CLI where a user meets it: a manifest whose class
 * count is not the model's output width, non-finite weights, batch-norm statistics, ONNX
 * initializers and input images, a training run whose loss or weights become non-finite, numeric
 * flags out of range, and images whose decoded size is over the byte caps. Every case exits with
 * the contract's code and one stderr line naming the file or flag.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Gpu } from "../kernels/gpu.ts";
import { imageBatches } from "../pipeline/audit/batches.ts";
import { decodeImageWith } from "../pipeline/data/decode_image.ts";
import type { DataSource } from "../pipeline/data/types.ts";
import { writeNpy } from "../pipeline/formats/npy.ts";
import { readSafetensors, writeSafetensors } from "../pipeline/formats/safetensors.ts";
import { InputError } from "../pipeline/io/input_error.ts";
import { saveModelFolder } from "../pipeline/model/model_folder.ts";
import { buildConvnet } from "../pipeline/train/architectures.ts";
import { errorLines, runCli } from "./cli_helpers.ts";
import { floatTensor, OnnxBuilder } from "./onnx_builder.ts";
import { randomArray } from "./oracle.ts";

const DIGITS = "fixtures/models/digits";

/** Runs a command and checks the contract: `code`, exactly one stderr line, no stack trace; returns the line. */
async function oneLine(command: string, args: string[], code: number): Promise<string> {
  const result = await runCli(command, args);
  const lines = errorLines(result);
  assert.equal(result.code, code, result.stderr);
  assert.equal(lines.length, 1, JSON.stringify(lines));
  assert.doesNotMatch(lines[0], /panicked|\bat .*:\d+:\d+/);
  return lines[0];
}

/** A copy of the digits model in a fresh folder, with its manifest and weights changed as asked. */
async function digitsCopy(
  change: { classes?: number; weights?: (w: Map<string, { shape: number[]; data: Float32Array }>) => void },
): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "boundary-model-" });
  const manifest = JSON.parse(await Deno.readTextFile(join(DIGITS, "manifest.json")));
  if (change.classes) manifest.classes = Array.from({ length: change.classes }, (_, c) => `class ${c}`);
  await Deno.writeTextFile(join(dir, "manifest.json"), JSON.stringify(manifest));
  await Deno.copyFile(join(DIGITS, "graph.json"), join(dir, "graph.json"));
  const weights = new Map(
    [...readSafetensors(await Deno.readFile(join(DIGITS, "weights.safetensors")), "digits")].map((
      [name, t],
    ) => [name, { shape: t.shape, data: t.data }]),
  );
  change.weights?.(weights);
  await Deno.writeFile(join(dir, "weights.safetensors"), writeSafetensors(weights));
  return dir;
}

/** An audit's quickest settings, less `--limit`. */
const QUICK = ["--attack-sample", "2", "--skip-min-epsilon", "--sanity-images", "0", "--prototypes", "0", "--quiet"];
const AUDIT = ["--limit", "8", ...QUICK];

Deno.test("a manifest whose class count is not the output width is refused at load, naming it and both numbers", async () => {
  // The digits graph's classifier gives 10 logits (its weight is [10, 1568]).
  for (const classes of [20, 3]) {
    const model = await digitsCopy({ classes });
    const out = await Deno.makeTempDir({ prefix: "boundary-out-" });
    const line = await oneLine("audit", ["--model", model, ...AUDIT, "--out", out], 2);
    assert.ok(line.includes(join(model, "manifest.json")), line);
    assert.match(line, new RegExp(`lists ${classes} classes but .*"classifier" gives 10 logits`));
    assert.deepEqual([...Deno.readDirSync(out)].filter((e) => e.name === "report.json"), [], "no report written");
  }
});

Deno.test("a graph whose pooling outgrows its input is refused at load with exit 2, naming graph.json", async () => {
  // 2x2 images: block 1 pools them to 1x1, and block 2's 2x2 pooling has nothing left to cover.
  const model = await digitsCopy({});
  const manifest = JSON.parse(await Deno.readTextFile(join(model, "manifest.json")));
  manifest.input = { channels: 1, height: 2, width: 2 };
  await Deno.writeTextFile(join(model, "manifest.json"), JSON.stringify(manifest));
  const graph = JSON.parse(await Deno.readTextFile(join(model, "graph.json")));
  graph.input.shape = [1, 2, 2];
  await Deno.writeTextFile(join(model, "graph.json"), JSON.stringify(graph));
  const line = await oneLine("predict", ["--model", model, "--summary"], 2);
  assert.ok(line.startsWith(`predict: ${join(model, "graph.json")}: `), line);
  assert.match(line, /node "block2.pool" \(max_pool\): .*output height would be empty/);
});

Deno.test("a NaN or infinite weight or batch-norm statistic is refused at load, naming the tensor and position", async () => {
  const cases: [tensor: string, index: number, value: number, position: string][] = [
    ["block1.bn.bias", 0, NaN, "NaN at [0]"],
    ["block2.bn.running_var", 5, Infinity, "Infinity at [5]"],
    // [16, 1, 3, 3]: flat index 9 * 3 + 3 * 1 + 2 = 32 is [3, 0, 1, 2].
    ["block1.conv.weight", 32, -Infinity, "-Infinity at [3, 0, 1, 2]"],
  ];
  for (const [tensor, index, value, position] of cases) {
    const model = await digitsCopy({ weights: (w) => w.get(tensor)!.data[index] = value });
    const out = await Deno.makeTempDir({ prefix: "boundary-out-" });
    const line = await oneLine("audit", ["--model", model, ...AUDIT, "--out", out], 2);
    assert.ok(line.includes(join(model, "weights.safetensors")), line);
    assert.ok(line.includes(`tensor "${tensor}" holds ${position}`), line);
  }
});

Deno.test("an ONNX initializer holding NaN is refused at load, naming the file and the initializer", async () => {
  const weight = Float32Array.from(randomArray(9, 3));
  weight[4] = NaN; // [3, 3, 1, 1]: flat index 4 is [1, 1, 0, 0]
  const b = new OnnxBuilder(13);
  const conv = b.op("Conv", ["image", b.init(floatTensor("w", [3, 3, 1, 1], weight))], {
    kernel_shape: { ints: [1, 1] },
  });
  const out = b.op("Flatten", [b.op("GlobalAveragePool", [conv])]);
  const dir = await Deno.makeTempDir({ prefix: "boundary-onnx-" });
  const path = join(dir, "model.onnx");
  await Deno.writeFile(path, b.build({ name: "image", dims: ["N", 3, 4, 4] }, { name: out, dims: ["N", 3] }));
  await Deno.writeTextFile(
    `${path}.json`,
    JSON.stringify({ classes: ["a", "b", "c"], normalization: { mean: [0, 0, 0], std: [1, 1, 1] } }),
  );
  const line = await oneLine("predict", ["--model", path, "--summary"], 2);
  assert.ok(line.includes(`${path}: initializer "w" holds NaN at [1, 1, 0, 0]`), line);
});

Deno.test("predict refuses a non-finite input image, naming the file and the first position", async () => {
  const dir = await Deno.makeTempDir({ prefix: "boundary-predict-" });
  const data = new Float32Array(2 * 28 * 28).fill(0.5);
  data[28 * 28 + 2 * 28 + 3] = NaN; // image 1, channel 0, row 2, column 3
  data[28 * 28 + 2 * 28 + 9] = Infinity; // a later one: only the first is named
  const input = join(dir, "x.npy");
  await Deno.writeFile(input, writeNpy({ shape: [2, 1, 28, 28], data }));
  const out = join(dir, "r.json");
  const line = await oneLine("predict", ["--model", DIGITS, "--input", input, "--out", out], 2);
  assert.ok(line.includes(`${input}: NaN at [1, 0, 2, 3]`), line);
  await assert.rejects(() => Deno.stat(out), Deno.errors.NotFound);
});

Deno.test("the audit's batches refuse a source image holding NaN, naming the source and the example", async () => {
  const image = (v: number) => new Float32Array(4).fill(v);
  const source: DataSource = {
    name: "test:nan",
    count: 3,
    classes: ["a", "b"],
    shape: [1, 2, 2],
    async *examples() {
      yield { index: 0, image: image(0.1), label: 0 };
      const bad = image(0.2);
      bad[3] = NaN; // [0, 1, 1]
      yield { index: 1, image: bad, label: 1 };
      yield { index: 2, image: image(0.3), label: 0 };
    },
  };
  await assert.rejects(async () => {
    for await (const _ of imageBatches(source, { batchSize: 8, range: [0, 1] }));
  }, (e) => e instanceof InputError && e.message === "test:nan: example 1 holds NaN at [0, 1, 1]");
});

/** The files a finished or stopped training run may have left in its folder. */
async function modelFiles(out: string): Promise<string[]> {
  try {
    return (await Array.fromAsync(Deno.readDir(out))).map((e) => e.name).filter((name) =>
      ["manifest.json", "graph.json", "weights.safetensors", "checkpoint.json"].includes(name) ||
      name.startsWith("checkpoint-")
    );
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
}

Deno.test("training stops with exit 1 on a non-finite loss or weights, names the step and writes no model", async () => {
  const base = ["--lr", "1e308", "--widths", "4", "--test-limit", "32", "--epochs", "2", "--quiet"];
  // One batch of 64: the first update makes the weights infinite before any loss shows it.
  const oneBatch = join(await Deno.makeTempDir({ prefix: "boundary-train-" }), "m");
  const weightsLine = await oneLine("train", ["--out", oneBatch, ...base, "--limit", "64"], 1);
  assert.match(weightsLine, /weights became non-finite at epoch 1 \(tensor "[\w.]+" holds -?(NaN|Infinity) at \[/);
  assert.deepEqual(await modelFiles(oneBatch), []);
  // Two batches: the second batch's loss, already read back, is NaN.
  const twoBatches = join(await Deno.makeTempDir({ prefix: "boundary-train-" }), "m");
  const lossLine = await oneLine("train", ["--out", twoBatches, ...base, "--limit", "128"], 1);
  assert.match(lossLine, /training loss became (NaN|-?Infinity) at epoch 1, batch 2 of 2; no model written/);
  assert.deepEqual(await modelFiles(twoBatches), []);
});

Deno.test("numeric flags out of range give one line naming the flag", async () => {
  const out = join(await Deno.makeTempDir({ prefix: "boundary-flags-" }), "m");
  const train = ["--out", out, "--limit", "64", "--test-limit", "32", "--epochs", "1", "--quiet"];
  const cases: [command: string, args: string[], expected: RegExp][] = [
    ["audit", ["--limit", "-5", "--out", out], /^audit: --limit: .*>=1$/],
    ["audit", ["--batch-size=-1", "--out", out], /^audit: --batch-size: .*>=1$/],
    ["audit", ["--seed", "1e10", "--out", out], /^audit: --seed: .*<=4294967295$/],
    ["audit", ["--shown", "5000", "--out", out], /^audit: --shown: .*<=1000$/],
    ["audit", ["--features-per-class", "1e7", "--out", out], /^audit: --features-per-class: .*<=65536$/],
    ["train", [...train.slice(0, -3), "--epochs", "1000000", "--quiet"], /^train: --epochs: .*<=100000$/],
    ["train", [...train, "--widths", "0"], /^train: --widths: .*>=1$/],
    ["train", [...train, "--widths", "8,0"], /^train: --widths: .*>=1$/],
    // 28x28 halves to 1x1 after 4 blocks.
    [
      "train",
      [...train, "--widths", "4,4,4,4,4"],
      /^train: --widths: 5 blocks, but 28x28 images halve to nothing after 4$/,
    ],
    ["train", [...train, "--batch-size", "100000"], /^train: --batch-size: .*<=4096$/],
    ["train", [...train, "--seed", "-1"], /^train: --seed: .*>=0$/],
    ["train", [...train, "--marker-class", "10"], /^train: --marker-class: 10 is not a class of --data \(0\.\.9\)$/],
  ];
  for (const [command, args, expected] of cases) {
    const line = await oneLine(command, args, 2);
    assert.match(line, expected);
  }
  assert.deepEqual(await modelFiles(out), []);
});

Deno.test("a width whose tensors no buffer of the adapter holds is refused before anything is allocated", async () => {
  const out = join(await Deno.makeTempDir({ prefix: "boundary-widths-" }), "m");
  const args = ["--out", out, "--limit", "64", "--test-limit", "32", "--epochs", "1", "--quiet"];
  const line = await oneLine("train", [...args, "--widths", "100000"], 2);
  // The first conv's output at the training batch: 64 x 100000 x 28 x 28 float32.
  const bytes = (4 * 64 * 100000 * 28 * 28).toLocaleString("en");
  assert.match(
    line,
    new RegExp(
      `^train: --widths 100000: "block1.conv" at batch 64 \\[64, 100000, 28, 28\\] needs ${bytes} bytes, over this adapter's [\\d,]+-byte buffer limit$`,
    ),
  );
  assert.deepEqual(await modelFiles(out), []);
});

Deno.test("an audit --batch-size whose activations no buffer of the adapter holds is refused, naming the flag", async () => {
  let limit: number;
  {
    using gpu = await Gpu.create();
    limit = Math.min(gpu.limits.maxStorageBufferBindingSize, gpu.limits.maxBufferSize);
  }
  // One block over mnist's 28x28, wide enough that about 1,000 images' conv output (width x 28 x 28
  // float32 each) passes the limit: the batch that no buffer holds is within the 2,000 test images.
  const width = Math.max(64, Math.ceil(limit / (4 * 28 * 28 * 1000)));
  const perImage = 4 * width * 28 * 28;
  const batch = Math.floor(limit / perImage) + 1;
  assert.ok(batch <= 2000, `a batch of ${batch} fits in mnist's 2,000 test images`);
  const model = await Deno.makeTempDir({ prefix: "boundary-model-" });
  const digits = JSON.parse(await Deno.readTextFile(join(DIGITS, "manifest.json")));
  const { graph, weights } = buildConvnet({ input: [1, 28, 28], classes: 10, widths: [width] }, 1);
  await saveModelFolder(model, { manifest: { ...digits, name: "wide" }, graph, weights });
  const out = await Deno.makeTempDir({ prefix: "boundary-out-" });
  const args = ["--model", model, ...QUICK, "--batch-size", String(batch)];
  const line = await oneLine("audit", [...args, "--limit", String(batch), "--out", out], 2);
  const bytes = (batch * perImage).toLocaleString("en");
  const expected =
    `audit: --batch-size ${batch}: "block1.conv" at batch ${batch} [${batch}, ${width}, 28, 28] needs ${bytes} bytes`;
  assert.ok(line.startsWith(expected), line);
  // At a smaller --limit the same flag makes batches of that limit, which fit.
  const fits = await runCli("audit", [
    ...args,
    "--limit",
    "4",
    "--out",
    await Deno.makeTempDir({ prefix: "boundary-out-" }),
  ]);
  assert.equal(fits.code, 0, fits.stderr);
});

/**
 * A valid all-zero PNG (IHDR, one zlib IDAT written row by row, IEND) made by Python's zlib, so
 * that a file of a few hundred kilobytes can claim hundreds of megabytes of pixels.
 */
async function zeroPng(path: string, width: number, height: number, colourType: number, depth: number) {
  const channels = { 0: 1, 2: 3, 4: 2, 6: 4 }[colourType]!;
  const script = `
import struct, sys, zlib
path, w, h, ct, depth, ch = sys.argv[1], *map(int, sys.argv[2:])
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)
z = zlib.compressobj(9)
row = bytes(1 + w * ch * depth // 8)
idat = b"".join(z.compress(row) for _ in range(h)) + z.flush()
with open(path, "wb") as f:
    f.write(b"\\x89PNG\\r\\n\\x1a\\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ct, 0, 0, 0)))
    f.write(chunk(b"IDAT", idat) + chunk(b"IEND", b""))
`;
  const args = ["-c", script, path, ...[width, height, colourType, depth, channels].map(String)];
  const { code, stderr } = await new Deno.Command("/usr/bin/python3", { args, stderr: "piped" }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
}

Deno.test("an image over the decoded-byte or float-plane cap is refused from its header, naming the file and size", async () => {
  const data = await Deno.makeTempDir({ prefix: "boundary-images-" });
  for (const c of ["a", "b"]) await Deno.mkdir(join(data, c));
  await zeroPng(join(data, "a", "small.png"), 28, 28, 0, 8);
  // 6000 x 6000 RGBA at 16 bits: 36 MP, under the 100 MP pixel cap, but 288,000,000 decoded bytes.
  const rgba16 = join(data, "b", "rgba16.png");
  await zeroPng(rgba16, 6000, 6000, 6, 16);
  const out = await Deno.makeTempDir({ prefix: "boundary-out-" });
  const audit = ["--model", DIGITS, "--data", `folder:${data}`, ...AUDIT, "--out", out];
  const decoded = await oneLine("audit", audit, 2);
  assert.ok(
    decoded.includes(`${rgba16}: PNG of 6000x6000, 4 channel(s) of 16 bits, decodes to 288,000,000 bytes`),
    decoded,
  );
  assert.match(decoded, /over the 268,435,456-byte limit$/);
  // 8000 x 6000 grey at 8 bits: 48,000,000 decoded bytes, but 576,000,000 bytes as float32 RGB planes.
  await Deno.remove(rgba16);
  await Deno.remove(out, { recursive: true }); // the refused run left its unfinished audit there
  const grey = join(data, "b", "grey.png");
  await zeroPng(grey, 8000, 6000, 0, 8);
  const planes = await oneLine("audit", audit, 2);
  assert.ok(planes.includes(`${grey}: PNG of 8000x6000 becomes 576,000,000 bytes of float32 planes`), planes);
  assert.match(planes, /over the 536,870,912-byte limit$/);
  // The same size as a JPEG, read from its frame header by both JPEG decoders.
  await Deno.remove(grey);
  await Deno.remove(out, { recursive: true });
  const jpeg = join(data, "b", "grey.jpg");
  const pil = "import sys; from PIL import Image; Image.new('L', (8000, 6000)).save(sys.argv[1], quality=50)";
  const made = await new Deno.Command("/usr/bin/python3", { args: ["-c", pil, jpeg], stderr: "piped" }).output();
  assert.equal(made.code, 0, new TextDecoder().decode(made.stderr));
  const jpegLine = await oneLine("audit", audit, 2);
  const refusal =
    `${jpeg}: JPEG of 8000x6000 becomes 576,000,000 bytes of float32 planes, over the 536,870,912-byte limit`;
  assert.equal(jpegLine, `audit: ${refusal}`);
  for (const decoder of ["sharp", "jpeg-js"] as const) {
    await assert.rejects(
      () => decodeImageWith(Deno.readFileSync(jpeg), jpeg, decoder),
      (e) => e instanceof InputError && e.message === refusal,
    );
  }
});
