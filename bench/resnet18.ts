/**
 * A ResNet-18-shaped model in the project's graph format, with seeded random weights: the
 * standard layout (7x7/2 stem, 3x3/2 max pool, four stages of two basic blocks with 64, 128, 256,
 * 512 channels, 1x1/2 projections where the shape changes, global average pool, dense), for
 * timing only. Batch norm has unit scale and variance, zero shift and mean.
 *
 * @example
 * ```ts
 * const { graph, weights } = resnet18({ classes: 1000, size: 224, seed: 1 });
 * ```
 */
import { gaussian } from "../pipeline/train/architectures.ts";
import type { Graph, GraphNode } from "../pipeline/model/graph.ts";
import type { HostTensor } from "../pipeline/model/model_files.ts";

export interface Resnet18Options {
  classes: number;
  /** Input height and width (3 channels). */
  size: number;
  seed: number;
}

/** The graph and weights of a ResNet-18-shaped classifier. */
export function resnet18({ classes, size, seed }: Resnet18Options): { graph: Graph; weights: Map<string, HostTensor> } {
  const nodes: GraphNode[] = [];
  const weights = new Map<string, HostTensor>();
  const normal = gaussian(seed);

  const conv = (name: string, input: string, cin: number, cout: number, k: number, stride: number) => {
    const shape = [cout, cin, k, k];
    const std = Math.sqrt(2 / (cin * k * k)); // He initialisation
    const data = Float32Array.from({ length: cout * cin * k * k }, () => normal() * std);
    weights.set(`${name}.weight`, { shape, data });
    const pad = Math.floor(k / 2);
    nodes.push({
      name,
      op: "conv2d",
      inputs: [input],
      stride: [stride, stride],
      padding: [pad, pad],
      dilation: [1, 1],
      groups: 1,
      weight: `${name}.weight`,
    });
    return name;
  };
  const bn = (name: string, input: string, channels: number) => {
    const fill = (v: number) => ({ shape: [channels], data: new Float32Array(channels).fill(v) });
    weights.set(`${name}.weight`, fill(1));
    weights.set(`${name}.bias`, fill(0));
    weights.set(`${name}.running_mean`, fill(0));
    weights.set(`${name}.running_var`, fill(1));
    nodes.push({
      name,
      op: "batch_norm",
      inputs: [input],
      scale: `${name}.weight`,
      shift: `${name}.bias`,
      mean: `${name}.running_mean`,
      variance: `${name}.running_var`,
      epsilon: 1e-5,
    });
    return name;
  };
  const relu = (name: string, input: string) => (nodes.push({ name, op: "relu", inputs: [input] }), name);

  let last = relu("relu", bn("bn1", conv("conv1", "image", 3, 64, 7, 2), 64));
  nodes.push({ name: "maxpool", op: "max_pool", inputs: [last], kernel: [3, 3], stride: [2, 2], padding: [1, 1] });
  last = "maxpool";
  let channels = 64;
  [64, 128, 256, 512].forEach((width, stage) => {
    for (let block = 0; block < 2; block++) {
      const p = `layer${stage + 1}.${block}`;
      const stride = stage > 0 && block === 0 ? 2 : 1;
      const a = relu(`${p}.relu1`, bn(`${p}.bn1`, conv(`${p}.conv1`, last, channels, width, 3, stride), width));
      const b = bn(`${p}.bn2`, conv(`${p}.conv2`, a, width, width, 3, 1), width);
      const shortcut = stride !== 1 || channels !== width
        ? bn(`${p}.downsample.1`, conv(`${p}.downsample.0`, last, channels, width, 1, stride), width)
        : last;
      nodes.push({ name: `${p}.add`, op: "add", inputs: [b, shortcut] });
      last = relu(`${p}.relu2`, `${p}.add`);
      channels = width;
    }
  });
  nodes.push(
    { name: "avgpool", op: "global_avg_pool", inputs: [last] },
    { name: "flatten", op: "flatten", inputs: ["avgpool"] },
    { name: "fc", op: "dense", inputs: ["flatten"], weight: "fc.weight", bias: "fc.bias" },
  );
  const std = Math.sqrt(1 / channels);
  weights.set("fc.weight", {
    shape: [classes, channels],
    data: Float32Array.from({ length: classes * channels }, () => normal() * std),
  });
  weights.set("fc.bias", { shape: [classes], data: new Float32Array(classes) });
  const graph: Graph = {
    format: "convnet-graph",
    version: 1,
    input: { name: "image", shape: [3, size, size] },
    nodes,
    output: "fc",
  };
  return { graph, weights };
}
