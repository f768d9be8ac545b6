/**
 * The movement converters (ops_movement.ts) and import-time folding (constant_folding.ts) against
 * onnxruntime: small ONNX models built node by node, one with a free batch and the shape arithmetic
 * exporters write (Shape -> Gather -> Unsqueeze -> Concat, ConstantOfShape/Equal/Where around an
 * Expand of a class token), one at opset 9 with a batch fixed at 2 and targets baked at that batch
 * (a ShuffleNet channel shuffle), run at batch 3. Logits and input gradients are compared per image.
 */
import assert from "node:assert/strict";
import { Executor } from "../pipeline/model/executor.ts";
import { importOnnx } from "../pipeline/model/onnx/mod.ts";
import { gpuTest, testGpu } from "./gpu_fixture.ts";
import { floatTensor, int64Tensor, OnnxBuilder } from "./onnx_builder.ts";
import { assertGradientMatchesOrt, assertLogitsMatch, OrtModel } from "./onnx_ort.ts";
import { onnx } from "../pipeline/model/onnx/proto.ts";
import { crossEntropyGradients } from "./executor_gradients.ts";

const CLASSES = 5;
const normalization = { mean: [0.1, 0, -0.1], std: [1, 0.5, 2] };

/** An int64 scalar initializer. */
function int64Scalar(name: string, value: number) {
  return { name, dims: [], dataType: onnx.TensorProto.DataType.INT64, int64Data: [value] };
}

/**
 * Opset 13, batch "N": conv -> transpose NHWC -> reshape by a Shape chain (H split in two) ->
 * transpose -> slice with a negative step -> Split -> Squeeze and Gather (scalar index) -> Concat on
 * the last axis -> Pad (value 0.5, one side cropped) -> Unsqueeze + Expand -> planes merged with the batch, transposed
 * and split back into tokens ->
 * Concat after a class token expanded by the Equal/Where chain -> Slice of three tokens -> Flatten -> Gemm.
 */
function freeBatchModel(): Uint8Array {
  const b = new OnnxBuilder(13, 40);
  const x = b.op("Relu", [
    b.op("Conv", ["image", b.random("c.w", [4, 3, 3, 3], 0.4)], { pads: { ints: [1, 1, 1, 1] } }),
  ]);
  const nhwc = b.op("Transpose", [x], { perm: { ints: [0, 2, 3, 1] } }); // [N, 6, 6, 4]
  const batch = b.op("Gather", [b.op("Shape", [nhwc]), b.init(int64Scalar("zero", 0))], { axis: { i: 0 } });
  const batchVector = b.op("Unsqueeze", [batch, b.init(int64Tensor("axis0", [0]))]);
  const target = b.op("Concat", [batchVector, b.init(int64Tensor("rest", [3, 2, 6, 4]))], { axis: { i: 0 } });
  const split = b.op("Reshape", [nhwc, target]); // [N, 3, 2, 6, 4]
  const moved = b.op("Transpose", [split], { perm: { ints: [0, 2, 1, 3, 4] } }); // [N, 2, 3, 6, 4]
  const sliced = b.op("Slice", [
    moved,
    b.init(int64Tensor("starts", [-1, 0])),
    b.init(int64Tensor("ends", [-100, 3])),
    b.init(int64Tensor("axes", [3, -1])),
    b.init(int64Tensor("steps", [-2, 1])),
  ]); // [N, 2, 3, 3, 3]
  const [first, rest] = b.node("Split", [sliced, b.init(int64Tensor("sizes", [1, 2]))], { axis: { i: 2 } }, {
    outputs: 2,
  });
  const squeezed = b.op("Squeeze", [first, b.init(int64Tensor("axis2", [2]))]); // [N, 2, 3, 3]
  const picked = b.op("Gather", [rest, b.init(int64Scalar("one", 1))], { axis: { i: 2 } }); // [N, 2, 3, 3]
  const joined = b.op("Concat", [squeezed, picked], { axis: { i: -1 } }); // [N, 2, 3, 6]
  const padded = b.op("Pad", [
    joined,
    b.init(int64Tensor("pads", [0, 1, 1, 0, 0, 0, 1, -1])),
    b.init(floatTensor("half", [], [0.5])),
  ]); // [N, 3, 5, 5]
  const lifted = b.op("Unsqueeze", [padded, b.init(int64Tensor("axis1", [1]))]); // [N, 1, 3, 5, 5]
  const doubled = b.op("Expand", [lifted, b.init(int64Tensor("twice", [1, 2, 1, 1, 1]))]); // [N, 2, 3, 5, 5]
  // Swin-style: the batch merged into axis 0 with 6 planes per image, transposed, then split back.
  const merged = b.op("Reshape", [doubled, b.init(int64Tensor("planes", [-1, 5, 5]))]); // [6N, 5, 5]
  const turned = b.op("Transpose", [merged], { perm: { ints: [0, 2, 1] } });
  const perImage = b.op("Concat", [batchVector, b.init(int64Tensor("tokens", [6, 25]))], { axis: { i: 0 } });
  const tokens = b.op("Reshape", [turned, perImage]); // [N, 6, 25]
  // The class token: torch's expand(N, -1, -1) with -1 swapped for 1 by ConstantOfShape/Equal/Where.
  const sizes = b.op("Concat", [batchVector, b.init(int64Tensor("minus", [-1, -1]))], { axis: { i: 0 } });
  const ones = b.op("ConstantOfShape", [b.init(int64Tensor("three", [3]))], {
    value: { t: { dims: [1], dataType: onnx.TensorProto.DataType.INT64, int64Data: [1] } },
  });
  const minusOnes = b.op("Mul", [ones, b.op("Constant", [], { value_int: { i: -1 } })]);
  const shape = b.op("Where", [b.op("Equal", [sizes, minusOnes]), ones, sizes]);
  const cls = b.op("Expand", [b.random("cls", [1, 1, 25], 0.8), shape]);
  const all = b.op("Concat", [cls, tokens], { axis: { i: 1 } }); // [N, 7, 25]
  const two = b.op("Slice", [
    all,
    b.init(int64Tensor("s0", [0])),
    b.init(int64Tensor("s1", [3])),
    b.init(int64Tensor("s2", [1])),
  ]);
  const flat = b.op("Flatten", [b.op("Identity", [two])], { axis: { i: 1 } }); // [N, 75]
  const logits = b.op("Gemm", [flat, b.random("fc.w", [CLASSES, 75], 0.3), b.random("fc.b", [CLASSES], 0.1)], {
    transB: { i: 1 },
  });
  return b.build({ name: "image", dims: ["N", 3, 6, 6] }, { name: logits, dims: ["N", CLASSES] });
}

/**
 * Opset 9 (Squeeze, Unsqueeze, Slice, Split and Pad by attributes), batch fixed at 2 with targets
 * baked at 2: the channel shuffle [2, g=2, 2, 6, 6] -> transpose -> [2, -1, 6, 6], a constant
 * operand of two equal halves concatenated on the channel axis, a Pad by value and a slice.
 */
function fixedBatchModel(): Uint8Array {
  const b = new OnnxBuilder(9, 70);
  const x = b.op("Relu", [b.op("Conv", ["image", b.random("c.w", [4, 3, 1, 1], 0.5)])]); // [2, 4, 6, 6]
  const grouped = b.op("Reshape", [x, b.init(int64Tensor("groups", [2, 2, 2, 6, 6]))]);
  const shuffled = b.op("Transpose", [grouped], { perm: { ints: [0, 2, 1, 3, 4] } });
  const back = b.op("Reshape", [shuffled, b.init(int64Tensor("back", [2, -1, 6, 6]))]);
  const plane = Array.from({ length: 36 }, (_, i) => Math.sin(i));
  const constant = b.init(floatTensor("plane", [2, 1, 6, 6], [...plane, ...plane]));
  const joined = b.op("Concat", [back, constant], { axis: { i: 1 } }); // [2, 5, 6, 6]
  const sliced = b.op("Slice", [joined], {
    starts: { ints: [1, 1] },
    ends: { ints: [5, 100] },
    axes: { ints: [1, 3] },
  }); // [2, 4, 6, 5]
  const padded = b.op("Pad", [sliced], { pads: { ints: [0, 0, 0, 1, 0, 0, 2, 0] }, value: { f: -0.25 } });
  const [left] = b.node("Split", [padded], { axis: { i: 1 }, split: { ints: [3, 1] } }, { outputs: 2 });
  const lifted = b.op("Unsqueeze", [left], { axes: { ints: [2] } });
  const dropped = b.op("Squeeze", [lifted], { axes: { ints: [2] } });
  const flat = b.op("Flatten", [dropped]);
  const logits = b.op("Gemm", [flat, b.random("fc.w", [CLASSES, 3 * 8 * 6], 0.2), b.random("fc.b", [CLASSES], 0.1)], {
    transB: { i: 1 },
  });
  return b.build({ name: "image", dims: [2, 3, 6, 6] }, { name: logits, dims: [2, CLASSES] });
}

/**
 * Opset 13, batch "N": constant chains that fold at import feed a Gather (Range -> Cast), a Pad
 * (ConstantOfShape -> ScatterND -> Concat), two Slices (Mod, Div, Add, Sub; Greater -> Not -> Where
 * choosing a negative step) and a per-channel Mul (Sqrt -> Unsqueeze of a float constant).
 */
function foldingModel(): Uint8Array {
  const b = new OnnxBuilder(13, 90);
  const int64s = (name: string, values: number[]) => b.init(int64Tensor(name, values));
  const scalar = (name: string, value: number) => b.init(int64Scalar(name, value));
  const x = b.op("Relu", [b.op("Conv", ["image", b.random("c.w", [4, 3, 1, 1], 0.5)])]); // [N, 4, 6, 6]
  const range = b.op("Range", [scalar("from", 5), scalar("to", -1), scalar("by", -2)]); // [5, 3, 1]
  const columns = b.op("Gather", [x, b.op("Cast", [range], { to: { i: onnx.TensorProto.DataType.INT32 } })], {
    axis: { i: 3 },
  }); // [N, 4, 6, 3]
  const zeros = b.op("ConstantOfShape", [int64s("four", [4])], {
    value: { t: { dims: [1], dataType: onnx.TensorProto.DataType.INT64, int64Data: [0] } },
  });
  const after = b.op("ScatterND", [zeros, b.init({ ...int64Tensor("at", [2]), dims: [1, 1] }), int64s("one", [1])]);
  const padded = b.op("Pad", [columns, b.op("Concat", [zeros, after], { axis: { i: 0 } })]); // [N, 4, 7, 3]
  const start = b.op("Mod", [int64s("seven", [7]), int64s("m4", [4])]); // [3]
  const end = b.op("Add", [start, b.op("Div", [int64s("five", [5]), int64s("d2", [2])])]); // [5]
  const axis = b.op("Sub", [int64s("s4", [4]), int64s("s2", [2])]); // [2]
  const rows = b.op("Slice", [padded, start, end, axis]); // [N, 4, 2, 3]
  const backwards = b.op("Not", [b.op("Greater", [int64s("g1", [1]), int64s("g3", [3])])]);
  const step = b.op("Where", [backwards, int64s("minus", [-1]), int64s("plus", [1])]); // [-1]
  const reversed = b.op("Slice", [rows, int64s("last", [-1]), int64s("past", [-100]), int64s("a3", [3]), step]);
  const scale = b.op("Unsqueeze", [
    b.op("Sqrt", [b.init(floatTensor("sq", [4], [1, 4, 0.25, 9]))]),
    int64s("u", [0, 2, 3]),
  ]);
  const flat = b.op("Flatten", [b.op("Mul", [reversed, scale])]); // [N, 24]
  const logits = b.op("Gemm", [flat, b.random("fc.w", [CLASSES, 24], 0.3), b.random("fc.b", [CLASSES], 0.1)], {
    transB: { i: 1 },
  });
  return b.build({ name: "image", dims: ["N", 3, 6, 6] }, { name: logits, dims: ["N", CLASSES] });
}

/** Our logits and input gradient of the mean cross-entropy for a batch. */
async function ours(bytes: Uint8Array, x: Float32Array, shape: number[], labels: number[]) {
  const gpu = await testGpu();
  const imported = await importOnnx(bytes, { source: "movement.onnx", folder: "." });
  using exec = await Executor.create(gpu, { ...imported, manifest: { normalization } });
  const { logits, input } = await crossEntropyGradients(gpu, exec, x, shape, labels, { params: false });
  return { ops: imported.graph.nodes.map((n) => n.op), logits, input };
}

/**
 * One image's logits from a model whose file fixes the batch at `size`: the image in the first slot,
 * zeros in the others (images do not mix). assertGradientMatchesOrt reads nothing but `logits`.
 */
function fixedBatchSlot(ort: OrtModel, size: number, perImage: number): OrtModel {
  const logits = async (image: ArrayLike<number>) => {
    const input = new Float32Array(size * perImage);
    input.set(image);
    return (await ort.logits(input, [size, 3, 6, 6])).subarray(0, CLASSES);
  };
  return { logits } as unknown as OrtModel;
}

/** Checks each image's logits and gradient against onnxruntime run on `batchOf(image)`, that image first. */
async function compare(bytes: Uint8Array, batch: number, ortBatch: number | null, what: string) {
  const perImage = 3 * 36;
  const x = Float32Array.from({ length: batch * perImage }, (_, i) => (Math.cos(i * 0.61 + 0.2) + 1) / 2);
  const labels = Array.from({ length: batch }, (_, i) => (2 * i + 1) % CLASSES);
  const got = await ours(bytes, x, [batch, 3, 6, 6], labels);
  const ort = await OrtModel.create(bytes, normalization);
  try {
    for (let i = 0; i < batch; i++) {
      const image = x.subarray(i * perImage, (i + 1) * perImage);
      // A file with a fixed batch runs in onnxruntime at that batch: the image first, zeros after it.
      const single = ortBatch === null ? ort : fixedBatchSlot(ort, ortBatch, perImage);
      const theirs = await single.logits(image, [1, 3, 6, 6]);
      assertLogitsMatch(got.logits.subarray(i * CLASSES, (i + 1) * CLASSES), theirs, `${what} image ${i}`);
      // The batch mean divides each image's share of the gradient by the batch size.
      const gradient = got.input.subarray(i * perImage, (i + 1) * perImage).map((g) => batch * g);
      await assertGradientMatchesOrt(
        single,
        Float32Array.from(image),
        [1, 3, 6, 6],
        [labels[i]],
        gradient,
        `${what} image ${i}`,
      );
    }
  } finally {
    await ort.release();
  }
  return got;
}

Deno.test({
  name:
    "onnx movement: a free-batch model of Shape chains, slices, splits, gathers, pads, expands and a class token matches onnxruntime",
  ...gpuTest,
  async fn() {
    const got = await compare(freeBatchModel(), 3, null, "free batch");
    for (const op of ["permute", "view", "reshape", "slice", "concat", "pad", "expand", "constant"] as const) {
      assert.ok(got.ops.includes(op), `the import emits ${op}`);
    }
  },
});

Deno.test({
  name:
    "onnx movement: a file fixed at batch 2 with a baked channel shuffle runs at batch 3 like onnxruntime per image",
  ...gpuTest,
  async fn() {
    await compare(fixedBatchModel(), 3, 2, "fixed batch");
  },
});

Deno.test({
  name:
    "onnx movement: Range, Cast, ConstantOfShape, ScatterND, Mod, Div, Where and Sqrt chains fold at import like onnxruntime",
  ...gpuTest,
  async fn() {
    const got = await compare(foldingModel(), 3, null, "folding");
    assert.deepEqual(got.ops, ["conv2d", "relu", "slice", "pad", "slice", "slice", "binary", "flatten", "dense"]);
  },
});
