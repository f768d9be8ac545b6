/**
 * The exit-code contract on hostile inputs: exit 2 with one line naming the file or flag, never a
 * raw OS message, a stack trace or a hang. Each case runs through the CLI where a user meets it.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { elementwiseKernel } from "../kernels/elementwise.ts";
import { GpuError } from "../kernels/errors.ts";
import type { Step } from "../kernels/gpu.ts";
import { writeNpy } from "../pipeline/formats/npy.ts";
import { readInputFile, writeAtomic } from "../pipeline/io/files.ts";
import { InputError } from "../pipeline/io/input_error.ts";
import { Hierarchy } from "../pipeline/model/hierarchy.ts";
import { onnx } from "../pipeline/model/onnx/proto.ts";
import { type CommandResult, errorLines, runCli, spawnCli } from "./cli_helpers.ts";
import { gpuTest, testGpu } from "./gpu_fixture.ts";
import { OnnxBuilder } from "./onnx_builder.ts";

const DIGITS = new URL("../fixtures/models/digits", import.meta.url).pathname;
const LINUX = Deno.build.os === "linux";

/** Exit 2, one line, matching `message`, no stack trace. */
function assertOneLine(result: CommandResult, message: RegExp, what: string): void {
  const lines = errorLines(result);
  assert.equal(result.code, 2, `${what}: exit ${result.code}, stderr ${result.stderr}`);
  assert.equal(lines.length, 1, `${what}: one line expected, got ${JSON.stringify(lines)}`);
  assert.match(lines[0], message, what);
  assert.doesNotMatch(result.stderr, /^\s+at /m, `${what}: no stack trace`);
}

/** A chain `depth` nodes deep whose last inner node holds the leaves `leaves`, built without recursion. */
function chain(depth: number, leaves: unknown[]): unknown {
  let node: unknown = { name: "bottom", children: leaves };
  for (let i = 0; i < depth; i++) node = { name: `level ${i}`, children: [node] };
  return node;
}

/** An IDX pair of `count` 28x28 images (a bright column whose place follows the label) in `dir`; the --data spec. */
async function digitsIdx(dir: string, count: number): Promise<string> {
  const be32 = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
  const pixels = new Uint8Array(count * 784);
  for (let i = 0; i < count; i++) for (let y = 0; y < 28; y++) pixels[i * 784 + y * 28 + 4 + 2 * (i % 10)] = 255;
  const labels = Array.from({ length: count }, (_, i) => i % 10);
  const imagesPath = join(dir, "images.idx"), labelsPath = join(dir, "labels.idx");
  await Deno.writeFile(imagesPath, new Uint8Array([0, 0, 8, 3, ...be32(count), 0, 0, 0, 28, 0, 0, 0, 28, ...pixels]));
  await Deno.writeFile(labelsPath, new Uint8Array([0, 0, 8, 1, ...be32(count), ...labels]));
  return `idx:${imagesPath},${labelsPath}`;
}

/** The files left in a folder. */
const filesIn = (dir: string) => [...Deno.readDirSync(dir)].map((e) => e.name).sort();

Deno.test("a 20,000-level hierarchy loads: the tree is walked without recursion", () => {
  const classes = ["cat", "dog"];
  const h = Hierarchy.fromJson(chain(20_000, [{ name: "cat" }, { name: "dog" }]), classes, "deep.json");
  // The root has depth 0; 20,000 levels above "bottom", whose children are the leaves.
  assert.equal(h.depth(0), 20_001);
  assert.equal(h.distance(0, 1), 2);
  assert.equal(h.superclass(1, 20_000), "bottom");
  assert.equal(h.maxDepth, 20_001);
  // The first bad node in the file is the one named.
  const twoBad = { name: "r", children: [{ name: "ok", children: [{ name: "" }] }, { name: 7 }] };
  assert.throws(
    () => Hierarchy.fromJson(twoBad, classes, "h.json"),
    /h\.json: invalid hierarchy at children\.0\.children\.0\.name/,
  );
});

Deno.test("audit CLI: a bad node 20,000 levels deep is one line naming the file and the depth", async () => {
  const dir = await Deno.makeTempDir({ prefix: "contract-hierarchy-" });
  const path = join(dir, "deep.json");
  const leaves = Array.from({ length: 10 }, (_, i) => ({ name: String(i) }));
  await Deno.writeTextFile(path, JSON.stringify(chain(20_000, [...leaves, { name: "" }])));
  const result = await runCli("audit", [
    "--model",
    DIGITS,
    "--data",
    await digitsIdx(dir, 1),
    "--hierarchy",
    path,
    "--out",
    join(dir, "out"),
  ]);
  assertOneLine(
    result,
    /deep\.json: invalid hierarchy at depth 20001 \(\.\.\..*children\.10\.name\)/,
    "deep hierarchy",
  );
});

/** conv 3->3 whose weight is external data at `location`, pooled to logits [N, 3]; returns the .onnx path. */
async function externalModel(dir: string, location: string): Promise<string> {
  const b = new OnnxBuilder(13);
  const weight = b.init({
    name: "w",
    dims: [3, 3, 3, 3],
    dataType: onnx.TensorProto.DataType.FLOAT,
    dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
    externalData: [{ key: "location", value: location }, { key: "offset", value: "0" }, {
      key: "length",
      value: String(4 * 81),
    }],
  });
  const conv = b.op("Conv", ["image", weight], { kernel_shape: { ints: [3, 3] }, pads: { ints: [1, 1, 1, 1] } });
  const out = b.op("Flatten", [b.op("GlobalAveragePool", [conv])]);
  const path = join(dir, "model.onnx");
  await Deno.writeFile(path, b.build({ name: "image", dims: ["N", 3, 8, 8] }, { name: out, dims: ["N", 3] }));
  const sidecar = { classes: ["a", "b", "c"], normalization: { mean: [0, 0, 0], std: [1, 1, 1] } };
  await Deno.writeTextFile(`${path}.json`, JSON.stringify(sidecar));
  return path;
}

Deno.test("predict CLI: ONNX external data that is a folder, or a FIFO (which would block forever), is refused", async () => {
  const dir = await Deno.makeTempDir({ prefix: "contract-onnx-" });
  const cases: [string, (path: string) => Promise<unknown>, RegExp][] = [
    ["folder.bin", (path) => Deno.mkdir(path), /folder\.bin: is a folder, not a file/],
  ];
  if (LINUX) {
    const mkfifo = (path: string) => new Deno.Command("mkfifo", { args: [path] }).output();
    cases.push(["fifo.bin", mkfifo, /fifo\.bin: not a regular file \(a pipe, socket or device\); refused/]);
  }
  for (const [location, make, message] of cases) {
    const folder = join(dir, location.replace(".bin", ""));
    await Deno.mkdir(folder);
    await make(join(folder, location));
    const model = await externalModel(folder, location);
    assertOneLine(await runCli("predict", ["--model", model, "--summary"]), message, location);
  }
});

/** Protobuf varint bytes. */
function varint(n: number): number[] {
  const out: number[] = [];
  for (; n >= 0x80; n = Math.floor(n / 0x80)) out.push((n % 0x80) | 0x80);
  return [...out, n];
}

/**
 * An ONNX model whose graph's one node is an If whose then_branch graph holds the same, `depth`
 * times over (written prefix by prefix: each level's lengths are known from the inner levels).
 */
function nestedOnnx(depth: number): Uint8Array {
  const text = (field: number, s: string) => [...varint((field << 3) | 2), s.length, ...new TextEncoder().encode(s)];
  const opType = text(4, "If"), attrName = text(1, "then_branch");
  const lengthOf = (bytes: number) => varint(bytes).length + bytes; // tag byte added by the caller
  // graph(i) = tag + len + node(i); node(i) = op + tag + len + attr(i); attr(i) = name + tag + len + graph(i-1)
  const graphs = [0];
  for (let i = 1; i <= depth; i++) {
    const attr = attrName.length + 1 + lengthOf(graphs[i - 1]);
    const node = opType.length + 1 + lengthOf(attr);
    graphs.push(1 + lengthOf(node));
  }
  const out: number[] = [8, 8, ...varint((7 << 3) | 2), ...varint(graphs[depth])]; // ir_version 8, graph
  for (let i = depth; i >= 1; i--) {
    const attr = attrName.length + 1 + lengthOf(graphs[i - 1]);
    const node = opType.length + 1 + lengthOf(attr);
    out.push((1 << 3) | 2, ...varint(node), ...opType, (5 << 3) | 2, ...varint(attr), ...attrName);
    out.push((6 << 3) | 2, ...varint(graphs[i - 1]));
  }
  return Uint8Array.from(out);
}

Deno.test("predict CLI: an ONNX file nested 20,000 subgraphs deep is one line naming it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "contract-nested-onnx-" });
  const path = join(dir, "nested.onnx");
  await Deno.writeFile(path, nestedOnnx(20_000));
  const sidecar = { classes: ["a", "b", "c"], normalization: { mean: [0, 0, 0], std: [1, 1, 1] } };
  await Deno.writeTextFile(`${path}.json`, JSON.stringify(sidecar));
  const result = await runCli("predict", ["--model", path, "--summary"]);
  assertOneLine(
    result,
    /nested\.onnx: ONNX messages nest deeper than 64 levels; refused before decoding/,
    "nested ONNX",
  );
});

Deno.test("readInputFile reads only regular files: a folder, a FIFO and a device are InputErrors naming the path", async () => {
  const dir = await Deno.makeTempDir({ prefix: "contract-read-" });
  await Deno.writeTextFile(join(dir, "file"), "x");
  const paths: [string, RegExp][] = [[dir, /is a folder, not a file/], [join(dir, "file", "below"), /no such file/]];
  if (LINUX) {
    const fifo = join(dir, "pipe");
    await new Deno.Command("mkfifo", { args: [fifo] }).output();
    paths.push([fifo, /not a regular file/], ["/dev/zero", /not a regular file/]);
  }
  for (const [path, message] of paths) {
    await assert.rejects(
      readInputFile(path),
      (e: Error) => e instanceof InputError && e.message.startsWith(`${path}: `) && message.test(e.message),
    );
  }
});

Deno.test("writeAtomic: a failed write leaves no temporary file and names the target in one line", async () => {
  const dir = await Deno.makeTempDir({ prefix: "contract-write-" });
  const bytes = new TextEncoder().encode("{}");
  // A folder where the file should go: the write succeeds, the rename fails.
  await Deno.mkdir(join(dir, "taken"));
  await assert.rejects(writeAtomic(join(dir, "taken"), bytes), (e: Error) => {
    return e instanceof InputError && e.message === `${join(dir, "taken")}: cannot write: a folder is in the way`;
  });
  // A missing folder: the temporary file cannot even be created.
  const missing = join(dir, "no-such-folder", "r.json");
  await assert.rejects(
    writeAtomic(missing, bytes),
    (e: Error) => e instanceof InputError && e.message === `${missing}: cannot write: its folder does not exist`,
  );
  // Parts that fail part-way (a producer's own error): not the user's doing, so exit 1, still naming the path.
  const failing = {
    *[Symbol.iterator]() {
      yield bytes;
      throw new Error("producer failed");
    },
  } as unknown as readonly Uint8Array[];
  const target = join(dir, "parts.json");
  await assert.rejects(
    writeAtomic(target, failing),
    (e: Error) => !(e instanceof InputError) && e.message === `${target}: cannot write: producer failed`,
  );
  assert.deepEqual(filesIn(dir), ["taken"], "no temporary file left behind");
});

Deno.test({
  name: "predict CLI: --out a folder, in a missing folder, on a full disk or unwritable is one line naming it",
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "contract-predict-" });
    const input = join(dir, "x.npy");
    const x = Float32Array.from({ length: 28 * 28 }, (_, i) => (i % 7) / 7);
    await Deno.writeFile(input, writeNpy({ shape: [1, 1, 28, 28], data: x }));
    const args = (out: string, ...more: string[]) => ["--model", DIGITS, "--input", input, "--out", out, ...more];
    await Deno.mkdir(join(dir, "folder"));
    const cases: [string[], RegExp][] = [
      [args(join(dir, "folder"), "--force"), /--out .*folder: is a folder; name the file to write/],
      [args(join(dir, "missing", "r.json")), /--out .*missing\/r\.json: its folder .*missing does not exist/],
    ];
    for (const [argv, message] of cases) assertOneLine(await runCli("predict", argv), message, argv.join(" "));
    if (!LINUX) return;

    // A full disk without filling one: the write's temporary file is a link to /dev/full (ENOSPC).
    const out = join(dir, "full.json");
    const child = spawnCli("predict", args(out), "piped");
    // The CLI takes far longer to load the model and run it than this link takes to make.
    await Deno.symlink("/dev/full", `${out}.${child.pid}.0.tmp`);
    const output = await child.output();
    const full = { code: output.code, stdout: "", stderr: new TextDecoder().decode(output.stderr) };
    assertOneLine(full, new RegExp(`${out}: cannot write: no space left on the device`), "full disk");
    assert.deepEqual(filesIn(dir), ["folder", "x.npy"], "no temporary file and no result left behind");

    // sysfs refuses new files (EACCES, even to root).
    if (await Deno.stat("/sys").then(() => true, () => false)) {
      assertOneLine(
        await runCli("predict", args("/sys/r.json")),
        /\/sys\/r\.json: cannot write: permission denied/,
        "/sys",
      );
    }
  },
});

Deno.test({
  name: "a GPU validation error names the kernel and the bindings that failed, not every kernel of the encoder",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    const k = await elementwiseKernel(gpu);
    using a = gpu.tensor([8]), b = gpu.tensor([8]), c = gpu.tensor([8]);
    const params = { count: 8, lo: 0, hi: 1, scale: 1 };
    const dead = gpu.device.createBuffer({ size: 32, usage: GPUBufferUsage.STORAGE });
    dead.destroy();
    const deadTensor = { shape: [8], size: 8, dtype: "f32", buffer: dead, byteLength: 32 } as never;
    /** Three dispatches in one encoder, the middle one given by `failing`. */
    const threeKernels = (failing: (step: Step) => void) =>
      gpu.run((step) => {
        step.dispatch(k.add, { params, a, b, out: c }, [1]);
        failing(step);
        step.dispatch(k.accumulate, { params, a, b, out: c }, [1]);
      });
    const others = /elementwise_add|elementwise_accumulate/;
    // One buffer read and written by the same dispatch: a usage conflict, reported for the whole encoder.
    await assert.rejects(
      () => threeKernels((step) => step.dispatch(k.sigmoid, { params, a: c, b, out: c }, [1])),
      (e: Error) =>
        e instanceof GpuError &&
        /^validation error in kernel elementwise_sigmoid, bindings a and out: /.test(e.message) &&
        !others.test(e.message),
    );
    // A destroyed buffer not from the pool (no label): the kernel is named, not the binding.
    await assert.rejects(
      () => threeKernels((step) => step.dispatch(k.clip, { params, a, b, out: deadTensor }, [1])),
      (e: Error) =>
        e instanceof GpuError && /^validation error in kernel elementwise_clip: /.test(e.message) &&
        !others.test(e.message),
    );
    // A buffer too large to create is invalid: WebGPU names it by its label, which names the binding.
    gpu.device.pushErrorScope("validation");
    const tooLarge = gpu.device.createBuffer({
      label: "too large",
      size: gpu.device.limits.maxBufferSize + 4,
      usage: GPUBufferUsage.STORAGE,
    });
    assert.ok(await gpu.device.popErrorScope(), "creating the buffer fails");
    const invalid = { shape: [8], size: 8, dtype: "f32", buffer: tooLarge, byteLength: 32 } as never;
    await assert.rejects(
      () => threeKernels((step) => step.dispatch(k.clip, { params, a, b: invalid, out: c }, [1])),
      (e: Error) =>
        e instanceof GpuError && /^validation error in kernel elementwise_clip, binding b: /.test(e.message) &&
        !others.test(e.message),
    );
    // The device stays usable.
    await gpu.run((step) => step.dispatch(k.add, { params, a, b, out: c }, [1]));
  },
});
