/**
 * The elementwise group end to end: the executor on a graph of unary and binary nodes (constants
 * on either side, broadcasting between activations) against the float64 graph oracle, parameter
 * gradients of the constants included; ONNX models built node by node against onnxruntime; and a
 * PyTorch export with SiLU, squeeze-excitation, Hardswish, Hardsigmoid and GELU against PyTorch's
 * own logits and input gradient.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Executor } from "../pipeline/model/executor.ts";
import { type Graph, NodeSchema } from "../pipeline/model/graph.ts";
import type { ModelFiles } from "../pipeline/model/model_files.ts";
import { InputError } from "../pipeline/io/input_error.ts";
import { importOnnx } from "../pipeline/model/onnx/mod.ts";
import { gpuTest, testGpu } from "./gpu_fixture.ts";
import { graphForwardOracle } from "./graph_oracle.ts";
import { assertGradientsMatchOracle, crossEntropyGradients, randomModel } from "./executor_gradients.ts";
import { floatTensor, OnnxBuilder } from "./onnx_builder.ts";
import { convBn } from "./onnx_fixtures.ts";
import { assertGradientMatchesOrt, assertLogitsMatch, OrtModel } from "./onnx_ort.ts";
import { assertClose } from "./oracle.ts";
import { runPython } from "./python_reference.ts";

/**
 * conv -> silu -> x * ls[4,1,1] -> off - x -> squeeze-excitation (gap, reshape, hard_sigmoid, x * gate
 * [N,4,1,1]) -> max(tanh(x)^3, x) -> x / den[4,5,5] -> gap -> dense.
 */
function elementwiseModel(): ModelFiles {
  const graph: Graph = {
    format: "convnet-graph",
    version: 1,
    input: { name: "image", shape: [3, 5, 5] },
    nodes: [
      NodeSchema.parse({ name: "a", op: "conv2d", inputs: ["image"], padding: [1, 1], weight: "a.w", bias: "a.b" }),
      { name: "act", op: "unary", fn: "silu", inputs: ["a"] },
      { name: "scaled", op: "binary", fn: "mul", inputs: ["act"], constant: "ls", constantFirst: false },
      { name: "shifted", op: "binary", fn: "sub", inputs: ["scaled"], constant: "off", constantFirst: true },
      { name: "pooled", op: "global_avg_pool", inputs: ["shifted"] },
      { name: "squeezed", op: "reshape", inputs: ["pooled"], shape: [4, 1, 1] },
      { name: "gate", op: "hard_sigmoid", inputs: ["squeezed"], alpha: 0.2, beta: 0.5 },
      { name: "excited", op: "binary", fn: "mul", inputs: ["shifted", "gate"], constantFirst: false },
      { name: "t", op: "unary", fn: "tanh", inputs: ["excited"] },
      { name: "cube", op: "pow", inputs: ["t"], exponent: 3 },
      { name: "top", op: "binary", fn: "max", inputs: ["cube", "excited"], constantFirst: false },
      { name: "ratio", op: "binary", fn: "div", inputs: ["top"], constant: "den", constantFirst: false },
      { name: "gap", op: "global_avg_pool", inputs: ["ratio"] },
      { name: "fc", op: "dense", inputs: ["gap"], weight: "fc.w", bias: "fc.b" },
    ],
    output: "fc",
  };
  const shapes: Record<string, number[]> = {
    "a.w": [4, 3, 3, 3],
    "a.b": [4],
    ls: [4, 1, 1],
    off: [1],
    den: [4, 5, 5],
    "fc.w": [3, 4],
    "fc.b": [3],
  };
  const model = randomModel("elementwise", graph, shapes, {
    classes: 3,
    normalization: { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] },
    seed: 70,
  });
  // The divisor stays away from zero.
  const den = model.weights.get("den")!;
  den.data = den.data.map((v) => 1 + 0.5 * v);
  return model;
}

Deno.test({
  name:
    "executor: unary, hard_sigmoid, pow and broadcasting binary nodes match the float64 graph oracle, constants' gradients included",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    const model = elementwiseModel();
    const oracle = { graph: model.graph, weights: model.weights, normalization: model.manifest.normalization };
    const batch = 2, labels = [2, 0];
    const shape = [batch, ...model.graph.input.shape];
    const x = Float64Array.from({ length: batch * 75 }, (_, i) => (Math.sin(i * 0.73 + 0.2) + 1) / 2);
    using exec = await Executor.create(gpu, model);
    const got = await crossEntropyGradients(gpu, exec, x, shape, labels);
    assertClose(got.logits, graphForwardOracle(oracle, x, batch).data, 27, "logits");
    assertGradientsMatchOracle(model, got, x, labels);
  },
});

/**
 * Opset 14 (HardSwish came with it), 8x8: SiLU as x * Sigmoid(x), squeeze-excitation with
 * HardSigmoid, HardSwish, GELU decomposed as PyTorch exports it (fused into one node), Erf, 1 - x,
 * Pow, Sqrt of Abs, Reciprocal, Exp/Log, Neg, Tanh, variadic Max/Min with a constant, a positional
 * constant [1, C, H, W] that is itself a product of constants, Relu and LeakyRelu on rank 4,
 * Identity, and a per-channel Mul that folds.
 */
function elementwiseOnnx(): Uint8Array {
  const b = new OnnxBuilder(14, 900);
  const c = (name: string, shape: number[], data: number[]) => b.init(floatTensor(name, shape, data));
  let x = convBn(b, "image", 3, 6, { kernel: 3, pad: 1, bn: "folded" }, 910);
  x = b.op("Mul", [x, b.random("fold.scale", [6, 1, 1], 0.2, 1)]); // folds into the conv
  x = b.op("Mul", [x, b.op("Sigmoid", [x])]); // SiLU
  // Squeeze-excitation: GAP -> conv -> ReLU -> conv -> HardSigmoid -> x * scale[N, C, 1, 1].
  let s = b.op("GlobalAveragePool", [x]);
  s = b.op("Relu", [convBn(b, s, 6, 3, { kernel: 1, bn: "none" }, 920)]);
  s = b.op("HardSigmoid", [convBn(b, s, 3, 6, { kernel: 1, bn: "none" }, 930)], {
    alpha: { f: 1 / 6 },
    beta: { f: 0.5 },
  });
  x = b.op("Mul", [x, s]);
  x = b.op("HardSwish", [convBn(b, x, 6, 6, { kernel: 3, pad: 1, groups: 6, bn: "separate" }, 940)]);
  // GELU, op by op.
  const erf = b.op("Erf", [b.op("Div", [x, c("sqrt2", [], [Math.SQRT2])])]);
  x = b.op("Mul", [b.op("Mul", [x, b.op("Add", [erf, c("one", [], [1])])]), c("half", [], [0.5])]);
  const y = convBn(b, x, 6, 4, { kernel: 1, bn: "none" }, 950);
  const branches = [
    b.op("Sub", [c("one.b", [], [1]), b.op("Tanh", [y])]),
    b.op("Pow", [y, c("two", [], [2])]),
    b.op("Sqrt", [b.op("Add", [b.op("Abs", [y]), c("eps", [1], [0.1])])]),
    b.op("Reciprocal", [b.op("Add", [b.op("Exp", [y]), c("one.c", [], [1])])]),
    b.op("Log", [b.op("Add", [b.op("Mul", [y, y]), c("one.d", [1, 1, 1, 1], [1])])]),
    b.op("Neg", [b.op("LeakyRelu", [y], { alpha: { f: 0.2 } })]),
  ];
  const floor = c("floor", [4, 1, 1], [-0.5, 0, 0.2, 0.1]);
  x = b.op("Max", [branches[0], branches[1], branches[2], b.op("Erf", [y]), floor]);
  x = b.op("Min", [x, branches[3], c("cap", [1], [3])]);
  x = b.op("Add", [b.op("Sub", [x, branches[4]]), branches[5]]);
  // A constant computed from constants (done at import), and a Min of one input (itself).
  x = b.op("Add", [x, b.op("Mul", [b.random("position", [1, 4, 8, 8], 0.3), c("three", [], [3])])]);
  x = b.op("Min", [x]);
  x = b.op("Identity", [b.op("Relu", [x])]);
  x = b.op("Flatten", [b.op("GlobalAveragePool", [x])]);
  x = b.op("Gemm", [x, b.random("fc.w", [5, 4], 0.5), b.random("fc.b", [5], 0.1)], { transB: { i: 1 } });
  return b.build({ name: "image", dims: ["N", 3, 8, 8] }, { name: x, dims: ["N", 5] });
}

Deno.test({
  name:
    "onnx import: elementwise ops, broadcasting and squeeze-excitation match onnxruntime (logits and input gradient)",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    const bytes = elementwiseOnnx();
    const normalization = { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] };
    const imported = await importOnnx(bytes, { source: "elementwise.onnx", folder: "." });
    const ops: string[] = imported.graph.nodes.map((n) => (n.op === "unary" ? n.fn : n.op));
    for (const op of ["silu", "gelu", "erf", "hard_sigmoid", "hard_swish", "pow", "binary", "add"]) {
      assert.ok(ops.includes(op), `${op} in ${ops}`);
    }
    assert.ok(!imported.graph.nodes.some((n) => n.name === "mul_2"), "the per-channel Mul folds into the conv");
    const shape = [2, 3, 8, 8];
    const x = Float32Array.from({ length: 384 }, (_, i) => (Math.cos(i * 0.61) + 1) / 2);
    using exec = await Executor.create(gpu, { ...imported, manifest: { normalization } });
    const got = await crossEntropyGradients(gpu, exec, x, shape, [1, 3]);
    const ort = await OrtModel.create(bytes, normalization);
    try {
      assertLogitsMatch(got.logits, await ort.logits(x, shape), "logits");
      await assertGradientMatchesOrt(ort, x, shape, [1, 3], got.input, "input gradient");
    } finally {
      await ort.release();
    }
  },
});

/** A tiny net with the activations of EfficientNet, MobileNetV3 and ViT, exported by PyTorch (opset 17). */
const TORCH_SCRIPT = `
import json, sys, torch, torch.nn as nn, torch.nn.functional as F
torch.manual_seed(0)
class SE(nn.Module):
    def __init__(self, c, gate):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.reduce = nn.Conv2d(c, c // 2, 1)
        self.act = nn.SiLU() if gate == "sigmoid" else nn.ReLU()
        self.expand = nn.Conv2d(c // 2, c, 1)
        self.gate = nn.Sigmoid() if gate == "sigmoid" else nn.Hardsigmoid()
    def forward(self, x):
        return x * self.gate(self.expand(self.act(self.reduce(self.pool(x)))))
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.BatchNorm2d(8), nn.SiLU())
        self.dw = nn.Sequential(nn.Conv2d(8, 8, 3, 1, 1, groups=8), nn.BatchNorm2d(8), nn.Hardswish())
        self.se1 = SE(8, "sigmoid")
        self.se2 = SE(8, "hard")
        self.head = nn.Conv2d(8, 12, 1)
        self.fc = nn.Linear(12, 5)
    def forward(self, x):
        x = self.stem(x)
        x = x + self.se1(self.dw(x))
        x = self.se2(x)
        x = F.gelu(self.head(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))
net = Net()
for m in net.modules():
    if isinstance(m, nn.BatchNorm2d):
        m.running_mean.uniform_(-0.2, 0.2); m.running_var.uniform_(0.5, 1.5)
        m.weight.data.uniform_(0.5, 1.5); m.bias.data.uniform_(-0.2, 0.2)
net.eval()
x = torch.rand(2, 3, 16, 16)
torch.onnx.export(net, x, sys.argv[1], opset_version=17, input_names=["image"], output_names=["logits"],
                  dynamic_axes={"image": {0: "N"}, "logits": {0: "N"}})
x.requires_grad_(True)
logits = net(x)
F.cross_entropy(logits, torch.tensor([1, 4])).backward()
json.dump({"x": x.detach().flatten().tolist(), "logits": logits.detach().flatten().tolist(),
           "grad": x.grad.flatten().tolist()}, open(sys.argv[2], "w"))
`;

Deno.test({
  name: "onnx import: a PyTorch export with SiLU, squeeze-excitation, Hardswish, Hardsigmoid and GELU matches PyTorch",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    const dir = await Deno.makeTempDir({ prefix: "elementwise-torch-" });
    const [onnxPath, refPath] = [join(dir, "net.onnx"), join(dir, "ref.json")];
    await runPython(TORCH_SCRIPT, [onnxPath, refPath]);
    const ref = JSON.parse(await Deno.readTextFile(refPath)) as { x: number[]; logits: number[]; grad: number[] };
    const imported = await importOnnx(await Deno.readFile(onnxPath), { source: onnxPath, folder: dir });
    const ops = new Set<string>(imported.graph.nodes.map((n) => (n.op === "unary" ? n.fn : n.op)));
    assert.ok(!ops.has("erf"), "GELU's Div, Erf, Add, Mul, Mul fuse into one gelu node");
    for (const op of ["silu", "hard_swish", "hard_sigmoid", "binary", "gelu"]) {
      assert.ok(ops.has(op), `${op} in ${[...ops]}`);
    }
    const normalization = { mean: [0, 0, 0], std: [1, 1, 1] };
    using exec = await Executor.create(gpu, { ...imported, manifest: { normalization } });
    const got = await crossEntropyGradients(gpu, exec, ref.x, [2, 3, 16, 16], [1, 4]);
    got.logits.forEach((v, i) => {
      const want = ref.logits[i];
      assert.ok(Math.abs(v - want) <= Math.max(1e-4 * Math.abs(want), 1e-5), `logit ${i}: ${v} vs PyTorch ${want}`);
    });
    const diff = Math.hypot(...Array.from(got.input, (g, i) => g - ref.grad[i]));
    const relative = diff / Math.hypot(...ref.grad);
    // Float32 against float32 on the same weights: about 3e-7 here; the 1e-2 would let a wrong
    // hard-swish slope (0.02 off) pass.
    assert.ok(relative <= 1e-4, `input gradient: relative L2 error ${relative}`);
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test("onnx import: operands that do not broadcast, a constant that would grow its input and a computed exponent are each named", async () => {
  const b = new OnnxBuilder(13);
  const four = b.op("Conv", ["image", b.random("w4", [4, 3, 1, 1])]);
  b.op("Mul", ["image", b.op("GlobalAveragePool", [four])], {}, "clash");
  b.op("Add", ["image", b.random("batchwide", [2, 3, 8, 8])], {}, "grows");
  b.op("Pow", ["image", b.op("Sigmoid", ["image"])], {}, "computed_power");
  const out = b.op("Flatten", [b.op("GlobalAveragePool", ["image"])]);
  const bytes = b.build({ name: "image", dims: ["N", 3, 8, 8] }, { name: out, dims: ["N", 3] });
  await assert.rejects(() => importOnnx(bytes, { source: "bad.onnx", folder: "." }), (e: Error) => {
    assert.ok(e instanceof InputError);
    assert.match(e.message, /3 unsupported ONNX node\(s\)/);
    assert.match(e.message, /"clash" \(Mul: \[N, 3,8,8\] and \[N, 4,1,1\] do not broadcast\)/);
    assert.match(e.message, /"grows" \(Add: constant \[2,3,8,8\] does not broadcast into input \[N, 3,8,8\] without/);
    assert.match(e.message, /"computed_power" \(Pow: exponent "[^"]+" is computed, not a constant\)/);
    return true;
  });
});
