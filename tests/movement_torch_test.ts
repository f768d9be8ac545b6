/**
 * PyTorch's own exports (torch.onnx.export, opset 17, batch fixed at 2) of two tiny nets built on
 * movement: a ShuffleNet-style channel shuffle (view -> transpose -> view, chunk) and a ViT-style
 * token net (flatten(2).transpose(1, 2), a class token expanded to the batch and concatenated,
 * token 0 selected). Ours run at batch 3, and logits and the input gradient of the mean
 * cross-entropy must agree with PyTorch's at batch 3 (in float64).
 */
import assert from "node:assert/strict";
import { Executor } from "../pipeline/model/executor.ts";
import { recordCrossEntropyGradient } from "../pipeline/model/loss.ts";
import { importOnnx } from "../pipeline/model/onnx/mod.ts";
import { gpuTest, testGpu } from "./gpu_fixture.ts";
import { runPython } from "./python_reference.ts";

const SCRIPT = `
import io, json, sys, torch, torch.nn as nn, torch.nn.functional as F
torch.manual_seed(0)

def shuffle(x, groups):
    b, c, h, w = x.size()
    return x.view(b, groups, c // groups, h, w).transpose(1, 2).contiguous().view(b, -1, h, w)

class Shuffle(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.branch = nn.Conv2d(4, 4, 3, padding=1, groups=2)
        self.fc = nn.Linear(8, 5)
    def forward(self, x):
        x = shuffle(F.relu(self.stem(x)), 2)
        a, b = x.chunk(2, dim=1)
        x = shuffle(torch.cat([a, F.relu(self.branch(b))], 1), 4)
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))

class Tokens(nn.Module):
    def __init__(self):
        super().__init__()
        self.patch = nn.Conv2d(3, 8, 4, stride=4)
        self.cls = nn.Parameter(torch.randn(1, 1, 8))
        self.mix = nn.Conv2d(8, 8, (3, 1), padding=(1, 0))
        self.head = nn.Linear(8, 5)
    def forward(self, x):
        x = self.patch(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1)
        x = F.relu(self.mix(x.transpose(1, 2).unsqueeze(-1))).squeeze(-1).transpose(1, 2)
        return self.head(x[:, 0])

out = {}
for name, net in [("shuffle", Shuffle()), ("tokens", Tokens())]:
    net.eval()
    buffer = io.BytesIO()
    torch.onnx.export(net, torch.randn(2, 3, 16, 16), buffer, opset_version=17)
    x = torch.rand(3, 3, 16, 16, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([1, 4, 2])
    logits = net.double()(x)
    F.cross_entropy(logits, labels).backward()
    out[name] = {"onnx": list(buffer.getvalue()), "x": x.detach().flatten().tolist(), "labels": labels.tolist(),
                 "logits": logits.detach().flatten().tolist(), "grad": x.grad.flatten().tolist()}
print(json.dumps(out))
`;

interface Reference {
  onnx: number[];
  x: number[];
  labels: number[];
  logits: number[];
  grad: number[];
}

const references = runPython(SCRIPT).then((text) => JSON.parse(text) as Record<string, Reference>);

function relativeL2(ours: ArrayLike<number>, theirs: ArrayLike<number>): number {
  let diff = 0, norm = 0;
  for (let i = 0; i < theirs.length; i++) {
    diff += (ours[i] - theirs[i]) ** 2;
    norm += theirs[i] ** 2;
  }
  return Math.sqrt(diff / norm);
}

async function check(name: string, ops: string[]) {
  const ref = (await references)[name];
  const gpu = await testGpu();
  const imported = await importOnnx(Uint8Array.from(ref.onnx), { source: `${name}.onnx`, folder: "." });
  for (const op of ops) assert.ok(imported.graph.nodes.some((n) => n.op === op), `${name}: the import emits ${op}`);
  const normalization = { mean: [0, 0, 0], std: [1, 1, 1] };
  using exec = await Executor.create(gpu, { ...imported, manifest: { normalization } });
  using input = gpu.tensor([3, 3, 16, 16], ref.x);
  using labels = gpu.tensor([3], ref.labels, "u32");
  let result!: ReturnType<typeof recordCrossEntropyGradient>;
  await gpu.run((step) => {
    result = recordCrossEntropyGradient(step, exec, input, labels, { input: true });
  });
  using _ = result;
  const logits = await gpu.read(result.logits);
  ref.logits.forEach((theirs, i) => {
    const diff = Math.abs(logits[i] - theirs);
    assert.ok(
      diff <= Math.max(1e-4 * Math.abs(theirs), 1e-5),
      `${name} logit ${i}: ours ${logits[i]}, PyTorch ${theirs}`,
    );
  });
  const error = relativeL2(await gpu.read(result.grads.input!), ref.grad);
  assert.ok(error <= 1e-3, `${name}: input gradient relative L2 error ${error}`);
}

Deno.test({
  name: "movement vs PyTorch: a channel-shuffle net exported at batch 2 matches at batch 3 (logits, input gradient)",
  ...gpuTest,
  fn: () => check("shuffle", ["reshape", "permute", "slice", "concat"]),
});

Deno.test({
  name: "movement vs PyTorch: a token net with an expanded class token matches at batch 3 (logits, input gradient)",
  ...gpuTest,
  fn: () => check("tokens", ["permute", "constant", "concat", "slice"]),
});
