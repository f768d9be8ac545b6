/**
 * The window geometry ONNX exporters emit beyond the symmetric floor-mode case, lowered and run
 * against onnxruntime: Conv with SAME_UPPER stride 2 (one pixel more at the bottom and right) and
 * with explicit asymmetric pads; MaxPool with asymmetric pads in ceil mode, and dilated; AveragePool
 * in ceil mode without counting padding, with asymmetric counted padding, and after a zero Pad it
 * must count (Inception's pattern).
 */
import assert from "node:assert/strict";
import { Executor } from "../pipeline/model/executor.ts";
import { recordCrossEntropyGradient } from "../pipeline/model/loss.ts";
import { importOnnx } from "../pipeline/model/onnx/mod.ts";
import { gpuTest, testGpu } from "./gpu_fixture.ts";
import { int64Tensor, OnnxBuilder } from "./onnx_builder.ts";
import { assertGradientMatchesOrt, assertLogitsMatch, OrtModel } from "./onnx_ort.ts";

const ints = (values: number[]) => ({ ints: values });

/** [1, 3, 16, 16] -> 5 logits; the sizes in the comments are each value's height x width. */
function windowsModel(): Uint8Array {
  const b = new OnnxBuilder(13, 900);
  // 16 -> 8, pads (0, 0, 1, 1)
  let a = b.op("Conv", ["image", b.random("same.w", [6, 3, 3, 3], 0.4)], {
    auto_pad: { s: "SAME_UPPER" },
    strides: ints([2, 2]),
  });
  a = b.op("Relu", [a]);
  // 8 -> 8 with pads top 0, left 1, bottom 2, right 1
  const left = b.op("Conv", [a, b.random("asym.w", [6, 6, 3, 3], 0.3)], { pads: ints([0, 1, 2, 1]) });
  // 8 -> 5 x 4: ceil mode keeps a last row window that starts at the input's last row
  let max = b.op("MaxPool", [left], {
    kernel_shape: ints([2, 2]),
    strides: ints([2, 2]),
    pads: ints([1, 0, 0, 0]),
    ceil_mode: { i: 1 },
  });
  // 5 x 4 -> 4 x 4, dilated
  max = b.op("MaxPool", [max], { kernel_shape: ints([2, 2]), dilations: ints([2, 2]), pads: ints([1, 1, 0, 1]) });
  // 8 -> 5 in ceil mode, the last window half outside (not counted)
  let avg = b.op("AveragePool", [a], {
    kernel_shape: ints([2, 2]),
    strides: ints([2, 2]),
    pads: ints([1, 1, 0, 0]),
    ceil_mode: { i: 1 },
  });
  // 5 -> 5 with counted asymmetric padding
  avg = b.op("AveragePool", [avg], {
    kernel_shape: ints([3, 3]),
    pads: ints([0, 1, 2, 1]),
    count_include_pad: { i: 1 },
  });
  // A zero Pad then an AveragePool that counts no padding of its own: the Pad's zeros still count.
  avg = b.op("Pad", [avg, b.init(int64Tensor("pads", [0, 0, 1, 1, 0, 0, 1, 1]))]);
  avg = b.op("AveragePool", [avg], { kernel_shape: ints([3, 3]) });
  const pooled = [max, avg].map((x) => b.op("GlobalAveragePool", [x]));
  const flat = b.op("Flatten", [b.op("Concat", pooled, { axis: { i: 1 } })]);
  const out = b.op("Gemm", [flat, b.random("fc.w", [5, 12], 0.5)], { transB: { i: 1 } });
  return b.build({ name: "image", dims: ["N", 3, 16, 16] }, { name: out, dims: ["N", 5] });
}

Deno.test({
  name:
    "onnx import: asymmetric Conv and pool padding, ceil mode, dilated MaxPool and a counted zero Pad match onnxruntime",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    const bytes = windowsModel();
    const normalization = { mean: [0, 0, 0], std: [1, 1, 1] };
    const imported = await importOnnx(bytes, { source: "windows.onnx", folder: "." });
    const fields = imported.graph.nodes.map((n) =>
      "paddingEnd" in n && n.paddingEnd ? `${n.op} ${n.padding}/${n.paddingEnd}` : n.op
    );
    for (const expected of ["conv2d 0,0/1,1", "conv2d 0,1/2,1", "max_pool 1,0/0,0", "avg_pool 0,1/2,1"]) {
      assert.ok(fields.includes(expected), `${expected} in ${fields}`);
    }
    const counted = imported.graph.nodes.filter((n) => n.op === "avg_pool" && n.countIncludePad);
    assert.equal(counted.length, 2, "the asymmetric pool and the one after the Pad count their padding");
    const shape = [2, 3, 16, 16];
    const x = Float32Array.from({ length: 2 * 768 }, (_, i) => (Math.sin(i * 0.37) + 1) / 2);
    using exec = await Executor.create(gpu, { ...imported, manifest: { normalization } });
    using input = gpu.tensor(shape, x);
    using labels = gpu.tensor([2], [1, 3], "u32");
    let result!: ReturnType<typeof recordCrossEntropyGradient>;
    await gpu.run((step) => {
      result = recordCrossEntropyGradient(step, exec, input, labels);
    });
    using _ = result;
    const [logits, gradient] = await Promise.all([gpu.read(result.logits), gpu.read(result.grads.input!)]);
    const ort = await OrtModel.create(bytes, normalization);
    try {
      for (let i = 0; i < 2; i++) {
        const image = x.subarray(i * 768, (i + 1) * 768);
        assertLogitsMatch(logits.subarray(i * 5, (i + 1) * 5), await ort.logits(image, [1, 3, 16, 16]), `image ${i}`);
        // The batch mean halves each image's share of the gradient.
        const own = gradient.subarray(i * 768, (i + 1) * 768).map((g) => 2 * g);
        await assertGradientMatchesOrt(ort, Float32Array.from(image), [1, 3, 16, 16], [[1, 3][i]], own, `image ${i}`);
      }
    } finally {
      await ort.release();
    }
  },
});
