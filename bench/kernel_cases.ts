/**
 * Cases for single kernels: conv2d forward and both backwards and GEMM (with TensorFlow.js-WebGPU
 * as the peer), max pooling, softmax-cross-entropy, the FGSM/PGD step and the RBF Gram.
 */
import type { Gpu, Step } from "../kernels/gpu.ts";
import {
  type Conv2dGeometry,
  type Conv2dKernels,
  conv2dKernels,
  conv2dOutputSize,
  recordConv2dBackwardInput,
  recordConv2dBackwardWeight,
  recordConv2dForward,
} from "../kernels/conv2d.ts";
import type { GemmCore } from "../kernels/gemm.ts";
import { matmulKernel, recordMatmul } from "../kernels/matmul.ts";
import { poolKernels, type PoolWindow, recordMaxPool, recordMaxPoolBackward } from "../kernels/pool.ts";
import { recordSoftmaxXent, recordSoftmaxXentBackward, softmaxXentKernel } from "../kernels/softmax_xent.ts";
import { attackKernels, recordAttackStep } from "../kernels/attack_step.ts";
import { rbfGramKernels, recordGram, recordRowNorms } from "../kernels/rbf_gram.ts";
import { sizeOf } from "../pipeline/io/size_of.ts";
import type { Tensor } from "../kernels/tensor.ts";
import { type BenchCase, randomValues, type Runner, type Target } from "./case.ts";
import type { GpuTimer } from "./timer.ts";
import type * as tf from "@tensorflow/tfjs-core";
import { hwio, nhwc, type Tfjs, tfjsRunner } from "./peers/tfjs.ts";

/** What a GPU case sets up: the tensors it owns and the work it records. */
interface Setup {
  tensors: Tensor[];
  record: (step: Step) => void;
}

/** A runner timing `setup`'s work; its tensors live as long as the runner. */
export async function gpuRunner(timer: GpuTimer, setup: Promise<Setup>): Promise<Runner> {
  const { tensors, record } = await setup;
  return { run: () => timer.time(record), [Symbol.dispose]: () => tensors.forEach((t) => t.dispose()) };
}

/** The NCHW shapes of a convolution's tensors. */
function convShapes(geom: Conv2dGeometry) {
  const { outHeight, outWidth } = conv2dOutputSize(geom);
  return {
    x: [geom.batch, geom.inChannels, geom.inHeight, geom.inWidth],
    w: [geom.outChannels, geom.inChannels / geom.groups, geom.kernelHeight, geom.kernelWidth],
    y: [geom.batch, geom.outChannels, outHeight, outWidth],
  };
}

/**
 * conv2d forward, backward input and backward weight of one geometry (dense, "same" or "valid"
 * padding), each against tfjs unless `core` forces one of our GEMM cores.
 */
export function convCases(
  gpu: Gpu,
  timer: GpuTimer,
  label: string,
  geom: Conv2dGeometry,
  options: { core?: GemmCore; target?: Target } = {},
): BenchCase[] {
  const { core, target } = options;
  const shapes = convShapes(geom);
  const x = randomValues(sizeOf(shapes.x), 1);
  const w = randomValues(sizeOf(shapes.w), 2);
  const dy = randomValues(sizeOf(shapes.y), 3);
  const flops = 2 * sizeOf(shapes.y) * sizeOf(shapes.w.slice(1));
  const bytes = 4 * (sizeOf(shapes.x) + sizeOf(shapes.w) + sizeOf(shapes.y));
  const shape = core ? `${label}, ${core} core` : label;
  const conv = {
    strides: [geom.strideH, geom.strideW] as [number, number],
    pad: (geom.padH === 0 ? "valid" : "same") as "valid" | "same",
  };
  // Three tensors of the shapes of x, w and y, filled with x, w and dy; a backward writes its
  // result over the one of its shape (the values read are never the ones written).
  const ours = (record: (step: Step, t: Record<"x" | "w" | "y", Tensor>, kernels: Conv2dKernels) => void) => () =>
    gpuRunner(
      timer,
      conv2dKernels(gpu, core).then((kernels) => {
        const t = { x: gpu.tensor(shapes.x, x), w: gpu.tensor(shapes.w, w), y: gpu.tensor(shapes.y, dy) };
        return { tensors: Object.values(t), record: (step: Step) => record(step, t, kernels) };
      }),
    );
  const peer = (inputs: (tfjs: Tfjs) => tf.Tensor[], op: (tfjs: Tfjs, t: tf.Tensor[]) => tf.Tensor) =>
    core ? undefined : { name: "tfjs-webgpu", start: () => tfjsRunner(inputs, op) };
  const nhwcShape = (s: number[]) => [s[0], s[2], s[3], s[1]] as [number, number, number, number];
  const [R, S, Cin, Cout] = [geom.kernelHeight, geom.kernelWidth, shapes.w[1], geom.outChannels];
  return [
    {
      group: "conv2d",
      name: "forward",
      shape,
      flops,
      bytes,
      target,
      start: ours((s, t, k) => recordConv2dForward(s, k, { x: t.x, weight: t.w, y: t.y, geom })),
      peer: peer(
        (tfjs) => [nhwc(tfjs, x, shapes.x), hwio(tfjs, w, shapes.w)],
        (tfjs, [a, b]) => tfjs.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, conv.strides, conv.pad),
      ),
    },
    {
      group: "conv2d",
      name: "backward input",
      shape,
      flops,
      bytes,
      target,
      start: ours((s, t, k) => recordConv2dBackwardInput(s, k, { dy: t.y, weight: t.w, dx: t.x, geom })),
      peer: peer(
        (tfjs) => [nhwc(tfjs, dy, shapes.y), hwio(tfjs, w, shapes.w)],
        (tfjs, [d, f]) =>
          tfjs.engine().runKernel("Conv2DBackpropInput", { dy: d, filter: f }, {
            strides: conv.strides,
            pad: conv.pad,
            dataFormat: "NHWC",
            inputShape: nhwcShape(shapes.x),
          }) as tf.Tensor,
      ),
    },
    {
      group: "conv2d",
      name: "backward weight",
      shape,
      flops,
      bytes,
      target,
      start: ours((s, t, k) => {
        recordConv2dBackwardWeight(s, k, { dy: t.y, x: t.x, dweight: t.w, geom });
      }),
      peer: peer(
        (tfjs) => [nhwc(tfjs, x, shapes.x), nhwc(tfjs, dy, shapes.y)],
        (tfjs, [a, d]) =>
          tfjs.engine().runKernel("Conv2DBackpropFilter", { x: a, dy: d }, {
            strides: conv.strides,
            pad: conv.pad,
            dataFormat: "NHWC",
            filterShape: [R, S, Cin, Cout],
          }) as tf.Tensor,
      ),
    },
  ];
}

/** C = A B for square n x n matrices, against tfjs's matMul. */
export function gemmCase(gpu: Gpu, timer: GpuTimer, n: number, options: { core?: GemmCore; target?: Target } = {}) {
  const a = randomValues(n * n, 4), b = randomValues(n * n, 5);
  const c: BenchCase = {
    group: "gemm",
    name: "C = A B",
    shape: options.core ? `${n}^3, ${options.core} core` : `${n}^3`,
    flops: 2 * n ** 3,
    bytes: 4 * 3 * n * n,
    target: options.target,
    start: () =>
      gpuRunner(
        timer,
        matmulKernel(gpu, options.core).then((kernel) => {
          const [ta, tb, tc] = [gpu.tensor([n, n], a), gpu.tensor([n, n], b), gpu.tensor([n, n])];
          return {
            tensors: [ta, tb, tc],
            record: (s) => recordMatmul(s, kernel, { a: ta, b: tb, c: tc, M: n, N: n, K: n }),
          };
        }),
      ),
    peer: options.core ? undefined : {
      name: "tfjs-webgpu",
      start: () =>
        tfjsRunner(
          (tfjs) => [tfjs.tensor2d(a, [n, n]), tfjs.tensor2d(b, [n, n])],
          (tfjs, [ta, tb]) => tfjs.matMul(ta, tb),
        ),
    },
  };
  return c;
}

/** 2x2 max pooling, stride 2, forward (with argmax) and backward, on [N, C, H, W]. */
export function poolCases(gpu: Gpu, timer: GpuTimer, shape: [number, number, number, number]): BenchCase[] {
  const [n, c, h, w] = shape;
  const window: PoolWindow = { kernelHeight: 2, kernelWidth: 2, strideH: 2, strideW: 2, padH: 0, padW: 0 };
  const outShape = [n, c, h / 2, w / 2];
  const inSize = sizeOf(shape), outSize = sizeOf(outShape);
  const x = randomValues(inSize, 6), dy = randomValues(outSize, 7);
  const setup = async () => {
    const kernels = await poolKernels(gpu);
    const t = {
      x: gpu.tensor(shape, x),
      y: gpu.tensor(outShape),
      argmax: gpu.tensor(outShape, undefined, "u32"),
      dy: gpu.tensor(outShape, dy),
      dx: gpu.tensor(shape),
    };
    await gpu.run((s) => recordMaxPool(s, kernels, { x: t.x, y: t.y, argmax: t.argmax, window }));
    return { kernels, t, tensors: Object.values(t) };
  };
  const label = `${n}x${c}x${h}x${w}, 2x2/2`;
  return [
    {
      group: "pool",
      name: "max forward",
      shape: label,
      flops: inSize, // one comparison per input value
      bytes: 4 * (inSize + 2 * outSize),
      start: () =>
        gpuRunner(
          timer,
          setup().then(({ kernels, t, tensors }) => ({
            tensors,
            record: (s: Step) => recordMaxPool(s, kernels, { x: t.x, y: t.y, argmax: t.argmax, window }),
          })),
        ),
    },
    {
      group: "pool",
      name: "max backward",
      shape: label,
      flops: 0,
      bytes: 4 * (2 * outSize + inSize),
      start: () =>
        gpuRunner(
          timer,
          setup().then(({ kernels, t, tensors }) => ({
            tensors,
            record: (s: Step) => recordMaxPoolBackward(s, kernels, { dy: t.dy, argmax: t.argmax, dx: t.dx, window }),
          })),
        ),
    },
  ];
}

/** Softmax with the per-example loss, and the gradient of the mean loss, on [B, C] logits. */
export function softmaxCases(gpu: Gpu, timer: GpuTimer, batch: number, classes: number): BenchCase[] {
  const size = batch * classes;
  const logits = randomValues(size, 8).map((v) => 4 * v);
  const labels = Array.from({ length: batch }, (_, i) => (i * 7919) % classes);
  const setup = async () => {
    const kernel = await softmaxXentKernel(gpu);
    const t = {
      logits: gpu.tensor([batch, classes], logits),
      labels: gpu.tensor([batch], labels, "u32"),
      out: gpu.tensor([batch, classes]),
      loss: gpu.tensor([batch]),
    };
    return { kernel, t, tensors: Object.values(t) };
  };
  const label = `${batch}x${classes}`;
  // max, exp, sum and divide per value: 4 operations (exp counted as one).
  return [
    {
      group: "softmax-xent",
      name: "forward + loss",
      shape: label,
      flops: 4 * size,
      bytes: 4 * (2 * size + 2 * batch),
      start: () =>
        gpuRunner(
          timer,
          setup().then(({ kernel, t, tensors }) => ({
            tensors,
            record: (s: Step) =>
              recordSoftmaxXent(s, kernel, { logits: t.logits, probs: t.out, labels: t.labels, loss: t.loss }),
          })),
        ),
    },
    {
      group: "softmax-xent",
      name: "backward",
      shape: label,
      flops: 5 * size,
      bytes: 4 * (2 * size + batch),
      start: () =>
        gpuRunner(
          timer,
          setup().then(({ kernel, t, tensors }) => ({
            tensors,
            record: (s: Step) =>
              recordSoftmaxXentBackward(s, kernel, { logits: t.logits, labels: t.labels, dlogits: t.out }),
          })),
        ),
    },
  ];
}

/** One FGSM/PGD step (sign, step, projection onto the ball, clip) on a batch of images. */
export function attackCase(gpu: Gpu, timer: GpuTimer, shape: [number, number, number, number]): BenchCase {
  const size = sizeOf(shape);
  const x = randomValues(size, 9).map((v) => 0.5 + 0.5 * v);
  const grad = randomValues(size, 10);
  return {
    group: "attack",
    name: "FGSM/PGD step",
    shape: shape.join("x"),
    flops: 6 * size, // sign, scale, add, two-sided projection, clip
    bytes: 4 * (4 * size + shape[0]), // grad, origin, x read, x written; eps per image
    start: () =>
      gpuRunner(
        timer,
        attackKernels(gpu).then((kernels) => {
          const t = {
            x: gpu.tensor(shape, x),
            origin: gpu.tensor(shape, x),
            grad: gpu.tensor(shape, grad),
            eps: gpu.tensor([shape[0]], new Array(shape[0]).fill(8 / 255)),
          };
          return {
            tensors: Object.values(t),
            record: (s: Step) => recordAttackStep(s, kernels.step, { ...t, scale: 0.25, range: [0, 1] }),
          };
        }),
      ),
  };
}

/**
 * The RBF Gram matrix of n feature rows of width d with themselves (row norms included), in row
 * blocks as the bias stage computes it: the fewest equal blocks that one storage binding holds.
 */
export function gramCase(
  gpu: Gpu,
  timer: GpuTimer,
  n: number,
  d: number,
  options: { core?: GemmCore; target?: Target } = {},
): BenchCase {
  const x = randomValues(n * d, 11);
  const xT = new Float32Array(n * d);
  for (let i = 0; i < n; i++) for (let k = 0; k < d; k++) xT[k * n + i] = x[i * d + k];
  let blocks = 1;
  while (n % blocks !== 0 || (n / blocks) * n * 4 > gpu.limits.maxStorageBufferBindingSize) blocks++;
  const blockRows = n / blocks;
  return {
    group: "rbf gram",
    name: "exp(-g |x-y|^2)",
    shape: `${n}x${n}, d=${d}, ${blocks} row blocks${options.core ? `, ${options.core} core` : ""}`,
    flops: 2 * n * n * d,
    bytes: 4 * (2 * n * d + n * n),
    target: options.target,
    start: () =>
      gpuRunner(
        timer,
        rbfGramKernels(gpu, options.core).then((kernels) => {
          const t = {
            x: gpu.tensor([n, d], x),
            xT: gpu.tensor([d, n], xT),
            norms: gpu.tensor([n]),
            out: gpu.tensor([blockRows, n]),
          };
          return {
            tensors: Object.values(t),
            record: (s: Step) => {
              recordRowNorms(s, kernels, { x: t.x, out: t.norms });
              for (let rowOffset = 0; rowOffset < n; rowOffset += blockRows) {
                const block = { rowOffset, rows: blockRows, gamma: 1 / d, symmetric: true };
                recordGram(s, kernels, { x: t.x, yT: t.xT, xNorm: t.norms, yNorm: t.norms, out: t.out, ...block });
              }
            },
          };
        }),
      ),
  };
}
