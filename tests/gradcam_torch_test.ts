/**
 * Grad-CAM and Grad-CAM++ against PyTorch: torchvision's ResNet-18 with seeded random weights
 * (and random batch-norm statistics) exported to ONNX at 128x128, imported, and explained at its
 * last spatial layer; PyTorch computes the same maps from hooks on `layer4` (its output and the
 * gradient of the target logit there), resized with `interpolate(bilinear, align_corners=False)`.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { lastSpatialLayer } from "../pipeline/explain/cam.ts";
import { computeSaliency } from "../pipeline/explain/saliency.ts";
import { Executor } from "../pipeline/model/executor.ts";
import { loadModel } from "../pipeline/model/load_model.ts";
import { gpuTest, testGpu } from "./gpu_fixture.ts";
import { maxAbsDiff } from "./oracle.ts";
import { runPython } from "./python_reference.ts";

const SIZE = 128, COUNT = 2;

const SCRIPT = `
import json, sys
import torch, torchvision
import torch.nn.functional as F

path, size, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
torch.manual_seed(0)
model = torchvision.models.resnet18(weights=None, num_classes=10)
for m in model.modules():
    if isinstance(m, torch.nn.BatchNorm2d):
        m.running_mean.uniform_(-0.2, 0.2)
        m.running_var.uniform_(0.5, 1.5)
        m.weight.data.uniform_(0.5, 1.5)
        m.bias.data.uniform_(-0.2, 0.2)
model.eval()
torch.onnx.export(model, torch.rand(1, 3, size, size), path, opset_version=13, input_names=["image"],
                  output_names=["logits"], dynamic_axes={"image": {0: "N"}, "logits": {0: "N"}})
mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
with open(path + ".json", "w") as f:
    json.dump({"classes": [f"class {i}" for i in range(10)], "normalization": {"mean": mean, "std": std},
               "inputRange": [0, 1]}, f)

images = torch.rand(count, 3, size, size, generator=torch.Generator().manual_seed(1))
kept = {}

def keep(module, inputs, output):
    kept["a"] = output
    output.register_hook(lambda g: kept.update(g=g))

model.layer4.register_forward_hook(keep)
x = (images - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
logits = model(x)
targets = logits.argmax(1)
logits.gather(1, targets[:, None]).sum().backward()
a, g = kept["a"].double(), kept["g"].double()

def cam(weights):
    c = F.relu((weights[:, :, None, None] * a).sum(1, keepdim=True))
    c = F.interpolate(c, size=(size, size), mode="bilinear", align_corners=False)[:, 0]
    top = c.flatten(1).max(1).values.clamp_min(1e-300)
    return (c / top[:, None, None]).flatten().tolist()

s = a.sum((2, 3), keepdim=True)
den = 2 * g ** 2 + s * g ** 3
alpha = torch.where(den != 0, g ** 2 / torch.where(den != 0, den, torch.ones_like(den)), torch.zeros_like(den))
print(json.dumps({
    "images": images.flatten().tolist(),
    "targets": targets.tolist(),
    "layer": list(a.shape),
    "gradcam": cam(g.mean((2, 3))),
    "gradcam++": cam((alpha * F.relu(g)).sum((2, 3))),
}))
`;

Deno.test({
  name: "cam: Grad-CAM and Grad-CAM++ of torchvision's ResNet-18 (ONNX) match PyTorch's hooks on layer4",
  ...gpuTest,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "gradcam-torch-" });
    const path = join(dir, "resnet18.onnx");
    const reference = JSON.parse(await runPython(SCRIPT, [path, String(SIZE), String(COUNT)]));
    const { files } = await loadModel(path);
    using exec = await Executor.create(await testGpu(), files);
    const layer = lastSpatialLayer(exec)!;
    assert.deepEqual(exec.shapes(COUNT).get(layer), reference.layer, `layer ${layer} is layer4's output`);
    const images = Float32Array.from(reference.images);
    for (const method of ["gradcam", "gradcam++"] as const) {
      const { maps } = await computeSaliency(exec, images, COUNT, { method, targets: reference.targets });
      const err = maxAbsDiff(maps, reference[method]);
      assert.ok(err <= 1e-4, `${method}: max error ${err} against PyTorch`);
    }
    await Deno.remove(dir, { recursive: true });
  },
});
