/**
 * ONNX lowering of the reduce group against onnxruntime: logits and central differences of the
 * mean cross-entropy through LayerNormalization, MatMul on the last axis and between activations
 * (broadcast batch dims), Einsum, Softmax and LogSoftmax inside the graph, ReduceMean/Sum/Max and
 * InstanceNormalization; and which Einsum equations are accepted.
 */
import assert from "node:assert/strict";
import { Executor } from "../pipeline/model/executor.ts";
import { importOnnx } from "../pipeline/model/onnx/mod.ts";
import { parseEinsum } from "../pipeline/model/onnx/ops_reduce.ts";
import { InputError } from "../pipeline/io/input_error.ts";
import { Unsupported } from "../pipeline/model/onnx/lowering.ts";
import type { Gpu } from "../kernels/gpu.ts";
import { gpuTest, testGpu } from "./gpu_fixture.ts";
import { floatTensor, int64Tensor, OnnxBuilder } from "./onnx_builder.ts";
import { assertGradientMatchesOrt, assertLogitsMatch, OrtModel } from "./onnx_ort.ts";
import { crossEntropyGradients } from "./executor_gradients.ts";

/** A tiny attention block on an image read as [N, 1, L, C]: the shapes of a ViT block without any reshape. */
function attentionModel(): Uint8Array {
  const b = new OnnxBuilder(17, 40);
  const [L, C] = [6, 8];
  const ln = b.op("LayerNormalization", ["image", b.random("ln.scale", [C], 0.3, 1), b.random("ln.bias", [C], 0.1)], {
    axis: { i: -1 },
    epsilon: { f: 1e-5 },
  });
  const q = b.op("MatMul", [ln, b.random("wq", [C, C], 0.5)]);
  const k = b.op("MatMul", [ln, b.random("wk", [C, C], 0.5)]);
  const v = b.op("MatMul", [ln, b.random("wv", [C, C], 0.5)]);
  const scores = b.op("Einsum", [q, k], { equation: { s: "bhid,bhjd->bhij" } });
  const scaled = b.op("Mul", [scores, b.init(floatTensor("scale", [], [1 / Math.sqrt(C)]))]);
  const attn = b.op("Softmax", [scaled], { axis: { i: -1 } });
  const mixed = b.op("MatMul", [attn, v]);
  const res = b.op("Add", [mixed, "image"]);
  const logSm = b.op("LogSoftmax", [res], { axis: { i: 2 } });
  const mean = b.op("ReduceMean", [logSm], { axes: { ints: [1, 2] }, keepdims: { i: 0 } });
  const max = b.op("ReduceMax", [res], { axes: { ints: [-3, -2] }, keepdims: { i: 0 } });
  const both = b.op("Add", [mean, max]);
  const logits = b.op("Gemm", [both, b.random("fc.w", [5, C], 0.4), b.random("fc.b", [5], 0.1)], { transB: { i: 1 } });
  void L;
  return b.build({ name: "image", dims: ["N", 1, L, C] }, { name: logits, dims: ["N", 5] });
}

/** Conv, InstanceNormalization, a MatMul whose second operand broadcasts over channels, softmax over channels. */
function instanceNormModel(): Uint8Array {
  const b = new OnnxBuilder(17, 70);
  const conv = b.op("Conv", ["image", b.random("conv.w", [4, 3, 3, 3], 0.3), b.random("conv.b", [4], 0.1)], {
    kernel_shape: { ints: [3, 3] },
    pads: { ints: [1, 1, 1, 1] },
  });
  const norm = b.op("InstanceNormalization", [conv, b.random("in.scale", [4], 0.3, 1), b.random("in.bias", [4], 0.2)], {
    epsilon: { f: 1e-5 },
  });
  const mean = b.op("ReduceMean", [norm], { axes: { ints: [1] }, keepdims: { i: 1 } });
  const product = b.op("MatMul", [norm, mean]);
  const sm = b.op("Softmax", [product], { axis: { i: 1 } });
  const sum = b.op("ReduceSum", [sm, b.init(int64Tensor("sum.axes", [2, 3]))], { keepdims: { i: 0 } });
  const logits = b.op("Gemm", [sum, b.random("fc.w", [3, 4], 0.5)], { transB: { i: 1 } });
  return b.build({ name: "image", dims: ["N", 3, 5, 5] }, { name: logits, dims: ["N", 3] });
}

async function checkAgainstOrt(gpu: Gpu, bytes: Uint8Array, shape: number[], labels: number[], expectOps: string[]) {
  const normalization = { mean: new Array(shape[1]).fill(0.5), std: new Array(shape[1]).fill(0.25) };
  const imported = await importOnnx(bytes, { source: "reduce.onnx", folder: ".", input: shape.slice(1) as never });
  const ops = new Set<string>(imported.graph.nodes.map((n) => n.op));
  for (const op of expectOps) assert.ok(ops.has(op), `the import emits a ${op} node (got ${[...ops]})`);
  const size = shape.reduce((a, b) => a * b, 1);
  const x = Float32Array.from({ length: size }, (_, i) => (Math.sin(i * 0.37 + 0.2) + 1) / 2);
  using exec = await Executor.create(gpu, { ...imported, manifest: { normalization } });
  const result = await crossEntropyGradients(gpu, exec, x, shape, labels, { params: false });
  const ort = await OrtModel.create(bytes, normalization);
  try {
    assertLogitsMatch(result.logits, await ort.logits(x, shape), "logits");
    await assertGradientMatchesOrt(ort, x, shape, labels, result.input, "input gradient");
  } finally {
    await ort.release();
  }
}

Deno.test({
  name: "onnx import: layer norm, MatMul on the last axis and between activations, Einsum, softmax inside the graph",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    await checkAgainstOrt(gpu, attentionModel(), [2, 1, 6, 8], [1, 4], [
      "layer_norm",
      "dense",
      "matmul",
      "softmax",
      "reduce",
    ]);
  },
});

Deno.test({
  name: "onnx import: instance norm, broadcast MatMul, softmax over channels, ReduceSum axes as an input",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    await checkAgainstOrt(gpu, instanceNormModel(), [2, 3, 5, 5], [0, 2], ["instance_norm", "matmul", "softmax"]);
  },
});

Deno.test("Einsum: the batched matrix products exporters write are accepted, other equations refused", () => {
  assert.deepEqual(parseEinsum("bhid,bhjd->bhij"), { transA: false, transB: true });
  assert.deepEqual(parseEinsum("bhij,bhjd->bhid"), { transA: false, transB: false });
  assert.deepEqual(parseEinsum("...ij,...jk->...ik"), { transA: false, transB: false });
  assert.deepEqual(parseEinsum("bji,bjk->bik"), { transA: true, transB: false });
  for (const refused of ["bij,bjk->bki", "ij,jk", "bij,bjk->bk", "bij,cjk->bik", "bii,bij->bij", "i,i->"]) {
    assert.throws(() => parseEinsum(refused), Unsupported, refused);
  }
});

Deno.test("onnx import: reductions across the batch, other Einsums and old flattening softmaxes are listed node by node", async () => {
  // Parallel branches off the image, so each refusal is reached (nodes below a refused one are not listed again).
  const b = new OnnxBuilder(11);
  b.op("ReduceMean", ["image"], { axes: { ints: [0] } }, "batch_mean");
  b.op("ReduceSum", ["image"], { keepdims: { i: 0 } }, "sum_all");
  b.op("Einsum", ["image", "image"], { equation: { s: "bcij,bcjk->bcki" } }, "odd_einsum");
  b.op("Softmax", ["image"], { axis: { i: 1 } }, "old_softmax");
  const ln = b.node("LayerNormalization", ["image", b.random("s", [5])], {}, { outputs: 2, name: "ln_stats" });
  b.op("Relu", [ln[1]]);
  const out = b.op("Flatten", [b.op("GlobalAveragePool", ["image"])]);
  const bytes = b.build({ name: "image", dims: ["N", 3, 5, 5] }, { name: out, dims: ["N", 3] });
  await assert.rejects(() => importOnnx(bytes, { source: "bad.onnx", folder: "." }), (e: Error) => {
    assert.ok(e instanceof InputError);
    for (
      const pattern of [
        /"batch_mean" \(ReduceMean: it reduces across the batch axis\)/,
        /"sum_all" \(ReduceSum: it reduces across the batch axis\)/,
        /"odd_einsum" \(Einsum: equation "bcij,bcjk->bcki" is not a batched matrix product\)/,
        /"old_softmax" \(Softmax: opset 11 softmax over the flattened axes 1\.\. of \[N, 3,5,5\]\)/,
        /"ln_stats" \(LayerNormalization: its output\(s\) "ln_stats_out1" are used\)/,
      ]
    ) assert.match(e.message, pattern);
    return true;
  });
});
