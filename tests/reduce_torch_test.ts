/**
 * A tiny attention block exported by PyTorch (torch.onnx.export, opset 17) against PyTorch itself:
 * LayerNorm -> Linear q, k, v on [B, L, C] -> einsum q k^T * 1/sqrt(d) -> softmax(-1) -> @ v ->
 * residual -> mean over tokens -> Linear head. The image is read as [B, 1, L, C], so the block
 * needs no Transpose or Reshape. Logits within 1e-4 relative, the input gradient of the mean
 * cross-entropy within 1e-2 relative L2.
 */
import assert from "node:assert/strict";
import { Executor } from "../pipeline/model/executor.ts";
import { recordCrossEntropyGradient } from "../pipeline/model/loss.ts";
import { importOnnx } from "../pipeline/model/onnx/mod.ts";
import { gpuTest, testGpu } from "./gpu_fixture.ts";
import { assertLogitsMatch } from "./onnx_ort.ts";
import { runPython } from "./python_reference.ts";

const EXPORT = `
import json, math, sys, torch, torch.nn as nn, torch.nn.functional as F
torch.manual_seed(0)
L, C, classes = 7, 12, 5
class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln = nn.LayerNorm(C)
        self.q, self.k, self.v = (nn.Linear(C, C, bias=False) for _ in range(3))
        self.head = nn.Linear(C, classes)
    def forward(self, x):
        h = self.ln(x)
        scores = torch.einsum("bhid,bhjd->bhij", self.q(h), self.k(h)) * (1 / math.sqrt(C))
        y = torch.softmax(scores, dim=-1) @ self.v(h) + x
        return self.head(y.mean(dim=(1, 2)))
model = Block().eval()
with torch.no_grad():
    model.ln.weight.uniform_(0.5, 1.5); model.ln.bias.uniform_(-0.2, 0.2)
x = torch.rand(2, 1, L, C, requires_grad=True)
labels = torch.tensor([1, 3])
torch.onnx.export(model, x.detach(), sys.argv[1], opset_version=17, input_names=["image"], output_names=["logits"],
                  dynamic_axes={"image": {0: "N"}, "logits": {0: "N"}})
logits = model(x)
F.cross_entropy(logits, labels).backward()
print(json.dumps({"x": x.detach().flatten().tolist(), "shape": list(x.shape), "labels": labels.tolist(),
                  "logits": logits.detach().flatten().tolist(), "grad": x.grad.flatten().tolist()}))
`;

Deno.test({
  name: "a PyTorch-exported attention block (layer norm, token Linear, einsum, softmax, matmul) matches PyTorch",
  ...gpuTest,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const path = `${dir}/block.onnx`;
      const ref = JSON.parse(await runPython(EXPORT, [path]));
      const imported = await importOnnx(await Deno.readFile(path), { source: "block.onnx", folder: dir });
      const ops = imported.graph.nodes.map((n) => n.op);
      for (const op of ["layer_norm", "dense", "matmul", "softmax", "reduce"]) assert.ok(ops.includes(op as never), op);
      const gpu = await testGpu();
      using exec = await Executor.create(gpu, { ...imported, manifest: { normalization: { mean: [0], std: [1] } } });
      using input = gpu.tensor(ref.shape, ref.x);
      using labels = gpu.tensor([2], ref.labels, "u32");
      let result!: ReturnType<typeof recordCrossEntropyGradient>;
      await gpu.run((step) => {
        result = recordCrossEntropyGradient(step, exec, input, labels, { input: true });
      });
      using _ = result;
      assertLogitsMatch(await gpu.read(result.logits), ref.logits, "logits");
      const grad = await gpu.read(result.grads.input!);
      const diff = Math.hypot(...grad.map((g, i) => g - ref.grad[i]));
      const norm = Math.hypot(...ref.grad);
      assert.ok(norm > 0 && diff / norm <= 1e-2, `input gradient: relative L2 error ${diff / norm}`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
