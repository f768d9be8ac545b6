/**
 * ONNX fixture models built by the test builder with seeded random weights and batch-norm
 * statistics: a LeNet-style net, a ResNet-18-shaped net at 64x64 (channels 8-16-32-64 instead of
 * 64-128-256-512, to stay fast on a software adapter) and a MobileNetV2-shaped net at 32x32
 * (depthwise convs, ReLU6, inverted residuals). Batch norm appears both folded into the conv before
 * it and as separate BatchNormalization nodes.
 */
import type { Sidecar } from "../pipeline/model/onnx/sidecar.ts";
import { type Dim, floatTensor, int64Tensor, OnnxBuilder } from "./onnx_builder.ts";
import { randomArray } from "./oracle.ts";

export interface OnnxFixture {
  name: string;
  bytes: Uint8Array;
  sidecar: Sidecar;
  /** [C, H, W] of one image. */
  input: [number, number, number];
  /** The model up to its logits, for onnxruntime (differs from `bytes` when the output is a softmax). */
  reference: Uint8Array;
}

const EPS = 1e-5;

interface ConvOptions {
  kernel: number;
  stride?: number;
  pad?: number;
  groups?: number;
  /** Batch norm after the conv: folded into its weights and bias, or a separate node. */
  bn: "folded" | "separate" | "none";
}

/** Conv (+ batch norm, folded or not) with He-uniform weights and random statistics. */
export function convBn(b: OnnxBuilder, x: string, cin: number, cout: number, o: ConvOptions, seed: number): string {
  const { kernel, stride = 1, pad = 0, groups = 1 } = o;
  const fanIn = (cin / groups) * kernel * kernel;
  const weight = randomArray(cout * fanIn, seed).map((v) => v * Math.sqrt(6 / fanIn));
  const bias = randomArray(cout, seed + 1).map((v) => 0.1 * v);
  const gamma = randomArray(cout, seed + 2).map((v) => 1 + 0.2 * v);
  const beta = randomArray(cout, seed + 3).map((v) => 0.1 * v);
  const mean = randomArray(cout, seed + 4).map((v) => 0.1 * v);
  const variance = randomArray(cout, seed + 5).map((v) => 1 + 0.3 * v);
  const attrs = {
    kernel_shape: { ints: [kernel, kernel] },
    strides: { ints: [stride, stride] },
    pads: { ints: [pad, pad, pad, pad] },
    group: { i: groups },
  };
  const id = `c${seed}`;
  if (o.bn === "folded") {
    const factor = gamma.map((g, i) => g / Math.sqrt(variance[i] + EPS));
    const w = weight.map((v, i) => v * factor[Math.floor(i / fanIn)]);
    const bb = bias.map((v, i) => beta[i] + (v - mean[i]) * factor[i]);
    const wName = b.init(floatTensor(`${id}.w`, [cout, cin / groups, kernel, kernel], w));
    return b.op("Conv", [x, wName, b.init(floatTensor(`${id}.b`, [cout], bb))], attrs);
  }
  const wName = b.init(floatTensor(`${id}.w`, [cout, cin / groups, kernel, kernel], weight));
  const y = b.op(
    "Conv",
    o.bn === "none" ? [x, wName, b.init(floatTensor(`${id}.b`, [cout], bias))] : [x, wName],
    attrs,
  );
  if (o.bn === "none") return y;
  const params = [gamma, beta, mean, variance].map((v, i) => b.init(floatTensor(`${id}.bn${i}`, [cout], v)));
  return b.op("BatchNormalization", [y, ...params], { epsilon: { f: EPS } });
}

/** ReLU6 as Clip, with bounds as inputs (opset 11 on) or attributes (before). */
export function relu6(b: OnnxBuilder, x: string): string {
  if (b.opset < 11) return b.op("Clip", [x], { min: { f: 0 }, max: { f: 6 } });
  const lo = b.init(floatTensor(`relu6.min.${b.nodes.length}`, [], [0]));
  const hi = b.init(floatTensor(`relu6.max.${b.nodes.length}`, [], [6]));
  return b.op("Clip", [x, lo, hi]);
}

function sidecar(classes: number, mean: number[], std: number[], input?: [number, number, number]): Sidecar {
  return {
    classes: Array.from({ length: classes }, (_, i) => `class ${i}`),
    normalization: { mean, std },
    inputRange: [0, 1],
    ...(input ? { input } : {}),
  };
}

/** LeNet-5 style, opset 11: conv-relu-maxpool, conv-relu-avgpool, Gemm-LeakyRelu, Gemm-Sigmoid, MatMul+Add, Softmax. */
export function lenetFixture(): OnnxFixture {
  const b = new OnnxBuilder(11, 100);
  let x = convBn(b, "image", 1, 6, { kernel: 5, pad: 2, bn: "none" }, 10);
  x = b.op("Relu", [x]);
  x = b.op("MaxPool", [x], { kernel_shape: { ints: [2, 2] }, strides: { ints: [2, 2] } });
  x = convBn(b, x, 6, 16, { kernel: 5, bn: "none" }, 20);
  x = b.op("Relu", [x]);
  x = b.op("AveragePool", [x], { kernel_shape: { ints: [2, 2] }, strides: { ints: [2, 2] } });
  const shape = b.op("Constant", [], { value: { t: int64Tensor("shape", [-1, 400]) } });
  x = b.op("Reshape", [x, shape]);
  x = b.op("Gemm", [x, b.random("fc1.w", [120, 400], Math.sqrt(6 / 400)), b.random("fc1.b", [120], 0.1)], {
    transB: { i: 1 },
    alpha: { f: 0.9 },
    beta: { f: 0.5 },
  });
  x = b.op("LeakyRelu", [x], { alpha: { f: 0.1 } });
  x = b.op("Gemm", [x, b.random("fc2.w", [120, 84], Math.sqrt(6 / 120), 0, true), b.random("fc2.b", [84], 0.1)]);
  x = b.op("Sigmoid", [x]);
  x = b.node("Dropout", [x], { ratio: { f: 0.5 } }, { outputs: 2 })[0];
  x = b.op("MatMul", [x, b.random("fc3.w", [84, 10], 0.8)]);
  x = b.op("Add", [x, b.random("fc3.b", [10], 0.1)]);
  const logits = b.op("Identity", [x]);
  const probabilities = b.op("Softmax", [logits], { axis: { i: 1 } });
  const input = { name: "image", dims: ["N", 1, 28, 28] };
  const bytes = b.build(input, { name: probabilities, dims: ["N", 10] });
  const reference = b.build(input, { name: logits, dims: ["N", 10] });
  return { name: "lenet", bytes, reference, sidecar: sidecar(10, [0.1307], [0.3081]), input: [1, 28, 28] };
}

/** ResNet-18 layout (stem, 4 stages of 2 basic blocks, GAP, Gemm) at 64x64, opset 13. */
export function resnet18Fixture(widths = [8, 16, 32, 64], classes = 10): OnnxFixture {
  const b = new OnnxBuilder(13, 200);
  let seed = 1000;
  const next = () => (seed += 10);
  let x = convBn(b, "image", 3, widths[0], { kernel: 7, stride: 2, pad: 3, bn: "separate" }, next());
  x = b.op("Relu", [x]);
  x = b.op("MaxPool", [x], { kernel_shape: { ints: [3, 3] }, strides: { ints: [2, 2] }, pads: { ints: [1, 1, 1, 1] } });
  let cin = widths[0];
  widths.forEach((cout, stage) => {
    for (let block = 0; block < 2; block++) {
      const stride = stage > 0 && block === 0 ? 2 : 1;
      let y = convBn(b, x, cin, cout, { kernel: 3, stride, pad: 1, bn: "folded" }, next());
      y = b.op("Relu", [y]);
      y = convBn(b, y, cout, cout, { kernel: 3, pad: 1, bn: "separate" }, next());
      const shortcut = stride !== 1 || cin !== cout
        ? convBn(b, x, cin, cout, { kernel: 1, stride, bn: block === 0 ? "separate" : "folded" }, next())
        : x;
      x = b.op("Relu", [b.op("Add", [y, shortcut])]);
      cin = cout;
    }
  });
  x = b.op("Flatten", [b.op("GlobalAveragePool", [x])]);
  // Small head weights keep the logits near 1: float32 finite differences of the loss stay accurate.
  const fc = b.random("fc.w", [classes, cin], 0.1 * Math.sqrt(6 / cin));
  x = b.op("Gemm", [x, fc, b.random("fc.b", [classes], 0.1)], { transB: { i: 1 } });
  const bytes = b.build({ name: "image", dims: ["batch", 3, 64, 64] }, { name: x, dims: ["batch", classes] });
  return {
    name: "resnet18",
    bytes,
    reference: bytes,
    sidecar: sidecar(classes, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
    input: [3, 64, 64],
  };
}

/**
 * MobileNetV2 layout at 32x32, opset 18, input dims symbolic (the sidecar gives them): an
 * explicitly zero-Padded stem, inverted residual blocks (1x1 expand, 3x3 depthwise, linear 1x1
 * project, residual add), ReLU6, a per-channel Mul, GAP, a 1x1-conv classifier scaled by a constant.
 */
export function mobilenetV2Fixture(): OnnxFixture {
  const b = new OnnxBuilder(18, 300);
  let seed = 2000;
  const next = () => (seed += 10);
  const pads = b.init(int64Tensor("stem.pads", [0, 0, 1, 1, 0, 0, 1, 1]));
  let x = b.op("Pad", ["image", pads]);
  x = relu6(b, convBn(b, x, 3, 8, { kernel: 3, stride: 2, bn: "separate" }, next()));
  x = b.op("Mul", [x, b.random("stem.scale", [1, 8, 1, 1], 0.2, 1)]);
  let cin = 8;
  const settings: [number, number, number, number][] = [[1, 8, 1, 1], [4, 12, 2, 2], [4, 16, 2, 2], [4, 24, 1, 1]];
  for (const [t, c, n, s] of settings) {
    for (let i = 0; i < n; i++) {
      const stride = i === 0 ? s : 1;
      const hidden = cin * t;
      let y = t === 1 ? x : relu6(b, convBn(b, x, cin, hidden, { kernel: 1, bn: "folded" }, next()));
      y = relu6(b, convBn(b, y, hidden, hidden, { kernel: 3, stride, pad: 1, groups: hidden, bn: "separate" }, next()));
      y = convBn(b, y, hidden, c, { kernel: 1, bn: i === 0 ? "separate" : "folded" }, next());
      x = stride === 1 && cin === c ? b.op("Add", [x, y]) : y;
      cin = c;
    }
  }
  x = relu6(b, convBn(b, x, cin, 32, { kernel: 1, bn: "folded" }, next()));
  x = b.op("GlobalAveragePool", [x]);
  x = b.node("Dropout", [x])[0];
  x = convBn(b, x, 32, 10, { kernel: 1, bn: "none" }, next());
  x = b.op("Mul", [x, b.init(floatTensor("logit.scale", [], [0.5]))]);
  x = b.op("Flatten", [x]);
  const dims: Dim[] = ["N", 3, "H", "W"];
  const bytes = b.build({ name: "image", dims }, { name: x, dims: ["N", 10] });
  return {
    name: "mobilenetv2",
    bytes,
    reference: bytes,
    sidecar: sidecar(10, [0.5, 0.5, 0.5], [0.25, 0.25, 0.25], [3, 32, 32]),
    input: [3, 32, 32],
  };
}
