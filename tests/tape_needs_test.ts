/**
 * What a trimmed tape keeps for the general-tensor ops (tape_needs.ts): on a graph with every
 * elementwise, movement and reduce op, the values a tape for the input gradient holds are exactly
 * those the ops' backwards read (listed here by hand from layers/*.ts), and the input and
 * parameter gradients from trimmed tapes are bit for bit a full tape's (a binary op binds a
 * stand-in for an operand the tape did not keep).
 */
import assert from "node:assert/strict";
import { Executor } from "../pipeline/model/executor.ts";
import type { Graph } from "../pipeline/model/graph.ts";
import { recordCrossEntropyGradient } from "../pipeline/model/loss.ts";
import type { HostTensor } from "../pipeline/model/model_files.ts";
import { tapeValues } from "../pipeline/model/tape_needs.ts";
import { gpuTest, testGpu } from "./gpu_fixture.ts";
import { randomArray } from "./oracle.ts";

// Input [B, 2, 3, 4]; each node's shape beside it.
const graph: Graph = {
  format: "convnet-graph",
  version: 1,
  input: { name: "x", shape: [2, 3, 4] },
  nodes: [
    { name: "t", op: "permute", inputs: ["x"], perm: [0, 1, 3, 2] }, // [B, 2, 4, 3]
    { name: "ln", op: "layer_norm", inputs: ["t"], axis: 3, epsilon: 1e-5, scale: "ln.scale", bias: "ln.bias" },
    { name: "act", op: "unary", inputs: ["ln"], fn: "gelu" },
    { name: "scores", op: "matmul", inputs: ["act", "ln"], transA: false, transB: true }, // [B, 2, 4, 4]
    { name: "attn", op: "softmax", inputs: ["scores"], axis: 3, log: false },
    { name: "attnT", op: "permute", inputs: ["attn"], perm: [0, 1, 3, 2] }, // so only softmax reads attn
    { name: "mixed", op: "matmul", inputs: ["attnT", "act"], transA: true, transB: false }, // [B, 2, 4, 3]
    { name: "gate", op: "hard_sigmoid", inputs: ["mixed"], alpha: 0.3, beta: 0.5 },
    { name: "sq", op: "pow", inputs: ["mixed"], exponent: 2 },
    { name: "prod", op: "binary", inputs: ["gate", "sq"], fn: "mul", constantFirst: false },
    { name: "scaled", op: "binary", inputs: ["prod"], fn: "mul", constant: "ls", constantFirst: false },
    { name: "shifted", op: "binary", inputs: ["scaled"], fn: "sub", constant: "shift", constantFirst: true },
    { name: "ratio", op: "binary", inputs: ["shifted"], fn: "div", constant: "ls", constantFirst: false },
    { name: "r2", op: "reduce", inputs: ["ratio"], kind: "mean", axes: [2], keepdims: true }, // [B, 2, 1, 3]
    { name: "sum2", op: "binary", inputs: ["ratio", "r2"], fn: "add", constantFirst: false }, // broadcast add
    { name: "part", op: "slice", inputs: ["sum2"], axes: [2], starts: [0], counts: [2], steps: [2] }, // [B, 2, 2, 3]
    { name: "padded", op: "pad", inputs: ["part"], pads: [0, 0, 0, 0, 0, 0, 0, 1], value: 0.5 }, // [B, 2, 2, 4]
    { name: "r", op: "reduce", inputs: ["padded"], kind: "mean", axes: [2], keepdims: true }, // [B, 2, 1, 4]
    { name: "big", op: "expand", inputs: ["r"], shape: [1, 2, 3, 4] }, // [B, 2, 3, 4]
    { name: "inorm", op: "instance_norm", inputs: ["big"], epsilon: 1e-5, scale: "in.scale", bias: "in.bias" },
    { name: "tok", op: "constant", inputs: ["x"], tensor: "token", shape: [-1, 2, 1, 4] },
    { name: "cat", op: "concat", inputs: ["inorm", "tok"], axis: 2 }, // [B, 2, 4, 4]
    { name: "rows", op: "view", inputs: ["cat"], shape: [-1, 8, 4] },
    { name: "logits", op: "reduce", inputs: ["rows"], kind: "max", axes: [1], keepdims: false }, // [B, 4]
  ],
  output: "logits",
};

/**
 * Read by some backward: layer norm, instance norm, unary, pow and hard sigmoid their inputs, matmul
 * and a mul of two activations both operands, softmax its output. Not: a mul, sub or div by a
 * constant (the input gradient is dy times a constant), an add of two activations.
 */
const KEPT_FOR_INPUT_GRADIENT = ["logits", "t", "ln", "act", "attn", "attnT", "mixed", "gate", "sq", "big"];

const weights = new Map<string, HostTensor>([
  ["ln.scale", { shape: [3], data: randomArray(3, 21).map((v) => 1 + 0.3 * v) }],
  ["ln.bias", { shape: [3], data: randomArray(3, 22).map((v) => 0.2 * v) }],
  ["ls", { shape: [3], data: randomArray(3, 23).map((v) => 1 + 0.5 * v) }],
  ["shift", { shape: [3], data: randomArray(3, 28) }],
  ["in.scale", { shape: [2], data: randomArray(2, 24).map((v) => 1 + 0.3 * v) }],
  ["in.bias", { shape: [2], data: randomArray(2, 25).map((v) => 0.2 * v) }],
  ["token", { shape: [2, 1, 4], data: randomArray(8, 26) }],
]);

Deno.test("tapeValues keeps what the general-tensor ops' backwards read, and nothing else", () => {
  const kept = tapeValues(graph, { params: false, training: false });
  assert.deepEqual([...kept].sort(), [...KEPT_FOR_INPUT_GRADIENT].sort());
});

Deno.test({
  name: "trimmed tapes through every general-tensor op give a full tape's gradients bit for bit",
  ...gpuTest,
  async fn() {
    const gpu = await testGpu();
    const batch = 3;
    using exec = await Executor.create(gpu, {
      graph,
      weights,
      manifest: { normalization: { mean: [0, 0], std: [1, 1] } },
    });
    using x = gpu.tensor([batch, 2, 3, 4], randomArray(batch * 24, 27).map((v) => (v + 1) / 2));
    using labels = gpu.tensor([batch], [0, 2, 3], "u32");
    const readGrads = async (grads: ReturnType<typeof exec.backward>) => ({
      input: await gpu.read(grads.input!),
      params: new Map(await Promise.all([...grads.params].map(async ([k, t]) => [k, await gpu.read(t)] as const))),
    });
    for (const params of [false, true]) {
      let result!: ReturnType<typeof recordCrossEntropyGradient>;
      await gpu.run((step) => (result = recordCrossEntropyGradient(step, exec, x, labels, { input: true, params })));
      using _ = result;
      const trimmed = await readGrads(result.grads);
      let kept!: ReturnType<typeof recordCrossEntropyGradient>;
      await gpu.run((step) => (kept = recordCrossEntropyGradient(step, exec, x, labels, { params, keepAll: true })));
      using _kept = kept;
      const want = await readGrads(kept.grads);
      assert.ok(want.input.some((g) => g !== 0), "the input gradient is not zero");
      assert.deepEqual(trimmed.input, want.input, `input gradient (params ${params})`);
      assert.deepEqual([...trimmed.params.keys()].sort(), [...want.params.keys()].sort());
      for (const [name, g] of want.params) assert.deepEqual(trimmed.params.get(name), g, `d ${name}`);
    }
    // The trimmed tape itself holds the listed values only.
    let tape!: ReturnType<typeof exec.forwardWithTape>;
    await gpu.run((step) => (tape = exec.forwardWithTape(step, x, { keep: "input-gradient" })));
    using _tape = tape;
    assert.deepEqual([...tape.values.keys()].sort(), [...KEPT_FOR_INPUT_GRADIENT].sort());
  },
});
