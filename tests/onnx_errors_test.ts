import assert from "node:assert/strict";
import { join } from "node:path";
import { InputError } from "../pipeline/io/input_error.ts";
import { loadModel } from "../pipeline/model/load_model.ts";
import { writeNpy } from "../pipeline/formats/npy.ts";
import { onnx, type TensorProto } from "../pipeline/model/onnx/proto.ts";
import { errorLines, runCli } from "./cli_helpers.ts";
import { floatTensor, OnnxBuilder } from "./onnx_builder.ts";
import { lenetFixture } from "./onnx_fixtures.ts";
import { randomArray } from "./oracle.ts";
import { sizeOf } from "../pipeline/io/size_of.ts";

const SIDECAR = { classes: ["a", "b", "c"], normalization: { mean: [0, 0, 0], std: [1, 1, 1] } };

/** Writes a model and its sidecar into a fresh folder; returns the .onnx path. */
async function writeModel(bytes: Uint8Array, sidecar: unknown = SIDECAR, dir?: string): Promise<string> {
  const folder = dir ?? await Deno.makeTempDir({ prefix: "onnx-errors-" });
  const path = join(folder, "model.onnx");
  await Deno.writeFile(path, bytes);
  await Deno.writeTextFile(`${path}.json`, JSON.stringify(sidecar));
  return path;
}

/** conv 3->3 (weight given), global average pool, flatten: logits [N, 3] from [N, 3, 8, 8]. */
function tinyModel(weight: TensorProto): Uint8Array {
  const b = new OnnxBuilder(13);
  const conv = b.op("Conv", ["image", b.init(weight)], {
    kernel_shape: { ints: [3, 3] },
    pads: { ints: [1, 1, 1, 1] },
  });
  const out = b.op("Flatten", [b.op("GlobalAveragePool", [conv])]);
  return b.build({ name: "image", dims: ["N", 3, 8, 8] }, { name: out, dims: ["N", 3] });
}

function externalWeight(location: string, offset = 0, shape = [3, 3, 3, 3]): TensorProto {
  const count = sizeOf(shape);
  return {
    name: "w",
    dims: shape,
    dataType: onnx.TensorProto.DataType.FLOAT,
    dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
    externalData: [
      { key: "location", value: location },
      { key: "offset", value: String(offset) },
      { key: "length", value: String(4 * count) },
    ],
  };
}

const WEIGHT = randomArray(81, 5);

Deno.test("onnx import: every unsupported node is named with its op in one line, and the CLI exits 2", async () => {
  const b = new OnnxBuilder(13);
  b.op("Celu", ["image"], {}, "celu_node");
  b.op("Pad", ["image", b.init({ name: "pads", dims: [8], dataType: 7, int64Data: [0, 0, 1, 1, 0, 0, 1, 1] })], {
    mode: { s: "reflect" },
  }, "reflect_pad");
  const w = b.random("w", [3, 3, 3, 3]);
  b.op("GlobalLpPool", ["image"], {}, "lp_pool");
  b.op("Pow", ["image", "image"], {}, "power");
  b.nodes.push({
    name: "fused",
    opType: "FusedConv",
    domain: "com.microsoft",
    input: ["image"],
    output: ["fused_out"],
  });
  b.op("Conv", ["image", w], { kernel_shape: { ints: [3, 3] }, frobnicate: { i: 1 } }, "odd_attribute");
  const int8 = b.init({ name: "q", dims: [3], dataType: onnx.TensorProto.DataType.INT8, rawData: new Uint8Array(3) });
  b.op("Add", ["image", int8], {}, "int8_add");
  const out = b.op("Flatten", [b.op("GlobalAveragePool", ["image"])]);
  const path = await writeModel(b.build({ name: "image", dims: ["N", 3, 8, 8] }, { name: out, dims: ["N", 3] }));

  const expected = [
    /"celu_node" \(Celu\)/,
    /"reflect_pad" \(Pad: mode=reflect\)/,
    /"lp_pool" \(GlobalLpPool\)/,
    /"power" \(Pow: exponent "image" is computed/,
    /"fused" \(FusedConv: domain com\.microsoft\)/,
    /"odd_attribute" \(Conv: attribute frobnicate\)/,
    /"int8_add" \(Add: operand "q": data type INT8 is not supported\)/,
  ];
  await assert.rejects(() => loadModel(path), (e: Error) => {
    assert.ok(e instanceof InputError);
    assert.match(e.message, /7 unsupported ONNX node\(s\)/);
    for (const pattern of expected) assert.match(e.message, pattern);
    return true;
  });
  const result = await runCli("predict", ["--model", path, "--summary"]);
  const lines = errorLines(result);
  assert.equal(result.code, 2, result.stderr);
  assert.equal(lines.length, 1, JSON.stringify(lines));
  for (const pattern of expected) assert.match(lines[0], pattern);
});

Deno.test("onnx import: a truncated file is a clean InputError wherever it is cut, and exit 2 through the CLI", async () => {
  const bytes = lenetFixture().bytes;
  const dir = await Deno.makeTempDir({ prefix: "onnx-truncated-" });
  for (const cut of [1, 16, Math.floor(bytes.length / 3), Math.floor(bytes.length * 0.9), bytes.length - 1]) {
    const path = await writeModel(bytes.subarray(0, cut), { ...SIDECAR, classes: [..."0123456789"] }, dir);
    await assert.rejects(() => loadModel(path), InputError, `cut at ${cut} of ${bytes.length}`);
  }
  const result = await runCli("predict", ["--model", join(dir, "model.onnx"), "--summary"]);
  assert.equal(result.code, 2, result.stderr);
  assert.match(errorLines(result)[0], /model\.onnx: not a readable ONNX model, truncated or corrupt/);
});

Deno.test("onnx import: external data loads from inside the model's folder and is refused outside it", async () => {
  const root = await Deno.makeTempDir({ prefix: "onnx-external-" });
  const folder = join(root, "model");
  await Deno.mkdir(folder);
  const raw = new Uint8Array(Float32Array.from(WEIGHT).buffer);
  await Deno.writeFile(join(folder, "weights.bin"), new Uint8Array([1, 2, 3, 4, ...raw]));
  await Deno.writeFile(join(root, "outside.bin"), raw);
  await Deno.symlink(join(root, "outside.bin"), join(folder, "link.bin"));

  const inline = await loadModel(await writeModel(tinyModel(floatTensor("w", [3, 3, 3, 3], WEIGHT))));
  const external = await loadModel(await writeModel(tinyModel(externalWeight("weights.bin", 4)), SIDECAR, folder));
  assert.deepEqual(external.files.weights, inline.files.weights);

  const outside = [["../outside.bin", ""], [join(root, "outside.bin"), ""], ["link.bin", " through a symbolic link"]];
  for (const [location, how] of outside) {
    const path = await writeModel(tinyModel(externalWeight(location)), SIDECAR, folder);
    const named = `${path}: initializer "w": external data location ${JSON.stringify(location)}`;
    await assert.rejects(() => loadModel(path), {
      message: `${named} points outside the folder ${folder}${how}; refused`,
    });
  }
  // Sizes are checked against the file before anything is read or allocated.
  const short = await writeModel(tinyModel(externalWeight("weights.bin", 8)), SIDECAR, folder);
  await assert.rejects(() => loadModel(short), /needs bytes 8\.\.332 of weights\.bin, which holds 328/);
  const huge = await writeModel(tinyModel(externalWeight("weights.bin", 0, [3, 3, 2 ** 20, 2 ** 20])), SIDECAR, folder);
  await assert.rejects(() => loadModel(huge), /declares \d+ elements, over the \d+ cap/);
  const liar = tinyModel({ name: "w", dims: [3, 3, 3, 300], dataType: 1, rawData: raw });
  const liarPath = await writeModel(liar);
  await assert.rejects(() => loadModel(liarPath), /shape needs 32400 bytes but raw_data holds 324/);
});

Deno.test("predict CLI with an onnx model exits 2 naming both shapes when the data's shape disagrees", async () => {
  const fixture = lenetFixture();
  const path = await writeModel(fixture.bytes, fixture.sidecar);
  const dir = join(path, "..");
  const npy = join(dir, "x.npy");
  await Deno.writeFile(npy, writeNpy({ shape: [2, 3, 28, 28], data: new Float32Array(2 * 3 * 28 * 28) }));
  const result = await runCli("predict", ["--model", path, "--input", npy, "--out", join(dir, "r.json")]);
  const lines = errorLines(result);
  assert.equal(result.code, 2, result.stderr);
  assert.equal(lines.length, 1, JSON.stringify(lines));
  assert.match(lines[0], /input is \[2,3,28,28\] but the model takes \[N, 1,28,28\]/);
});

Deno.test("onnx loader: a missing or mismatched sidecar is an InputError that says what to give", async () => {
  const fixture = lenetFixture();
  const path = await writeModel(fixture.bytes, fixture.sidecar);
  await assert.rejects(() => loadModel(path, { sidecar: join(path, "..", "none.json") }), /sidecar not found/);
  const wrongClasses = await writeModel(fixture.bytes, { ...fixture.sidecar, classes: ["a", "b"] });
  await assert.rejects(() => loadModel(wrongClasses), /lists 2 classes but .* gives 10 logits/);
  const wrongInput = await writeModel(fixture.bytes, { ...fixture.sidecar, input: [3, 28, 28] });
  await assert.rejects(
    () => loadModel(wrongInput),
    /the file's input \[N, 1, 28, 28\] disagrees with the sidecar's input \[3,28,28\]/,
  );
  const symbolic = await writeModel(tinyModel(floatTensor("w", [3, 3, 3, 3], WEIGHT)), SIDECAR);
  assert.ok(await loadModel(symbolic));
  const noDims = new OnnxBuilder(13);
  const out = noDims.op("Flatten", [noDims.op("GlobalAveragePool", ["image"])]);
  const symbolicPath = await writeModel(
    noDims.build({ name: "image", dims: ["N", "C", "H", "W"] }, { name: out, dims: ["N", "C"] }),
  );
  await assert.rejects(
    () => loadModel(symbolicPath),
    /is \[N, \?, \?, \?\]; give "input": \[C, H, W\] in the sidecar JSON/,
  );
});
