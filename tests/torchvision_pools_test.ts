/**
 * The three torchvision families whose exports need the pooling windows ONNX gives them: DenseNet
 * (AveragePool after a Pad by nothing), GoogLeNet (MaxPool in ceil mode) and Inception v3
 * (AveragePool after a zero Pad, whose zeros it counts). Each is exported by PyTorch itself
 * (`torch.onnx.export`, opset 17, random weights, small resolution), and its logits and the input
 * gradient of the mean cross-entropy are checked against PyTorch's own on a batch of 2.
 */
import assert from "node:assert/strict";
import { Executor } from "../pipeline/model/executor.ts";
import { recordCrossEntropyGradient } from "../pipeline/model/loss.ts";
import { importOnnx } from "../pipeline/model/onnx/mod.ts";
import { gpuTest, testGpu } from "./gpu_fixture.ts";
import { runPython } from "./python_reference.ts";

/** Exports the model, then writes x, PyTorch's logits and its input gradient as float32 files. */
const EXPORT = `
import sys, torch, torchvision
name, size, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
torch.manual_seed(0)
make = {
    "densenet121": lambda: torchvision.models.densenet121(),
    "googlenet": lambda: torchvision.models.googlenet(aux_logits=False, init_weights=True),
    "inception_v3": lambda: torchvision.models.inception_v3(aux_logits=False, init_weights=True),
}[name]
model = make()
# Random weights leave activations vanishing (GoogLeNet) or exploding (Inception) through batch
# norms with running statistics 0 and 1: set them from a few random images instead, so every
# layer's values are of order 1 and the comparison checks something.
for m in model.modules():
    if isinstance(m, torch.nn.BatchNorm2d):
        m.reset_running_stats()
        m.momentum = None
model.train()
with torch.no_grad():
    model(torch.rand(8, 3, size, size))
model.eval()
x = torch.rand(2, 3, size, size)
torch.onnx.export(model, x, out + "/model.onnx", opset_version=17, input_names=["input"],
                  output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
xg = x.clone().requires_grad_(True)
logits = model(xg)
torch.nn.functional.cross_entropy(logits, torch.tensor([1, 4])).backward()
x.numpy().tofile(out + "/x.f32")
logits.detach().numpy().tofile(out + "/logits.f32")
xg.grad.numpy().tofile(out + "/grad.f32")
`;

const IDENTITY = { mean: [0, 0, 0], std: [1, 1, 1] };

async function readF32(path: string): Promise<Float32Array> {
  return new Float32Array((await Deno.readFile(path)).buffer);
}

/** ||a - b|| / ||b||. */
function relativeL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0, norm = 0;
  for (let i = 0; i < b.length; i++) {
    diff += (a[i] - b[i]) ** 2;
    norm += b[i] ** 2;
  }
  return Math.sqrt(diff / norm);
}

/** The pooling ops and fields the import produced, e.g. "max_pool ceil", for the assertion messages. */
async function checkFamily(name: string, size: number, expectPools: (ops: string[]) => void): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: `${name}_` });
  try {
    await runPython(EXPORT, [name, `${size}`, dir]);
    const imported = await importOnnx(await Deno.readFile(`${dir}/model.onnx`), { source: name, folder: dir });
    expectPools(
      imported.graph.nodes.map((n) =>
        n.op === "max_pool" || n.op === "avg_pool"
          ? `${n.op}${n.ceilMode ? " ceil" : ""}${n.op === "avg_pool" && n.countIncludePad ? " counted" : ""}`
          : n.op
      ),
    );
    const gpu = await testGpu();
    using exec = await Executor.create(gpu, { ...imported, manifest: { normalization: IDENTITY } });
    using x = gpu.tensor([2, 3, size, size], await readF32(`${dir}/x.f32`));
    using labels = gpu.tensor([2], [1, 4], "u32");
    let result: ReturnType<typeof recordCrossEntropyGradient> | undefined;
    await gpu.run((step) => {
      result = recordCrossEntropyGradient(step, exec, x, labels);
    });
    using r = result!;
    const [logits, grad] = await Promise.all([gpu.read(r.logits), gpu.read(r.grads.input!)]);
    const expectedLogits = await readF32(`${dir}/logits.f32`);
    const scale = Math.max(...expectedLogits.map(Math.abs));
    const logitError = Math.max(...logits.map((v, i) => Math.abs(v - expectedLogits[i]))) / scale;
    assert.ok(logitError < 1e-4, `${name}: logits differ from PyTorch's by ${logitError} of their largest`);
    const gradError = relativeL2(grad, await readF32(`${dir}/grad.f32`));
    assert.ok(gradError < 1e-2, `${name}: input gradient differs from PyTorch's by ${gradError} (relative L2)`);
    console.log(
      `${name} at ${size}x${size}: logits ${logitError.toExponential(2)}, input gradient ${gradError.toExponential(2)}`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name: "densenet121 (AveragePool after a Pad by nothing) matches PyTorch's logits and input gradient",
  ...gpuTest,
  fn: () =>
    checkFamily("densenet121", 32, (ops) => {
      assert.ok(ops.includes("avg_pool") && !ops.includes("avg_pool counted"), "transitions average uncounted");
    }),
});

Deno.test({
  name: "googlenet (MaxPool in ceil mode) matches PyTorch's logits and input gradient",
  ...gpuTest,
  fn: () => checkFamily("googlenet", 32, (ops) => assert.ok(ops.includes("max_pool ceil"), "ceil-mode pools")),
});

Deno.test({
  name: "inception_v3 (AveragePool counting a folded zero Pad) matches PyTorch's logits and input gradient",
  ...gpuTest,
  fn: () =>
    checkFamily("inception_v3", 75, (ops) => assert.ok(ops.includes("avg_pool counted"), "the Pad's zeros count")),
});
