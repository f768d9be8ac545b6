/**
 * Cases for whole models on the executor: a forward pass (against ONNX Runtime on the CPU for
 * the ResNet-18-shaped net), a training forward + backward (gradients of every parameter), and a
 * saliency batch (forward with tape, input gradient, per-pixel map), each one command encoder.
 */
import type { Gpu, Step } from "../kernels/gpu.ts";
import { sizeOf } from "../pipeline/io/size_of.ts";
import type { Tensor } from "../kernels/tensor.ts";
import { recordSaliencyMap, saliencyKernels } from "../kernels/saliency.ts";
import { type ExecutableModel, Executor } from "../pipeline/model/executor.ts";
import { parameterNames } from "../pipeline/model/graph.ts";
import { type BenchCase, randomValues, type Runner, type Target } from "./case.ts";
import type { GpuTimer } from "./timer.ts";
import { exportOnnx } from "./onnx_export.ts";
import { ortRunner } from "./peers/ort.ts";

/** FLOPs of a model's passes (convolutions and dense layers) and the bytes its nodes touch. */
export function passCost(exec: Executor, batch: number) {
  const shapes = exec.shapes(batch);
  const size = (name: string) => sizeOf(shapes.get(name)!);
  let forward = 0, firstLayer = 0, bytes = 0;
  for (const node of exec.graph.nodes) {
    const params = parameterNames(node).reduce((sum, p) => sum + exec.params.get(p)!.size, 0);
    bytes += 4 * (size(node.name) + node.inputs.reduce((sum, i) => sum + size(i), 0) + params);
    if (node.op === "conv2d" || node.op === "dense") {
      const w = exec.params.get(node.weight)!;
      const flops = 2 * size(node.name) * (w.size / w.shape[0]);
      forward += flops;
      if (node.inputs[0] === exec.graph.input.name) firstLayer += flops;
    }
  }
  // Backward: a weight gradient and an input gradient per layer, each as costly as its forward.
  return { forward, weightGrads: forward, inputGrads: forward - firstLayer, firstLayer, bytes };
}

export interface ModelCaseOptions {
  /** Which passes to time: forward, training forward + backward, saliency batch (vanilla gradient). */
  passes: readonly ("forward" | "training" | "saliency")[];
  /** Also time ONNX Runtime on the same forward. */
  ortPeer?: boolean;
  forwardTarget?: Target;
}

/** The cases of one model at one batch size; the executor (weights on the GPU) is shared. */
export async function modelCases(
  gpu: Gpu,
  timer: GpuTimer,
  label: string,
  model: ExecutableModel,
  batch: number,
  options: ModelCaseOptions,
): Promise<BenchCase[]> {
  const exec = await Executor.create(gpu, model);
  const cost = passCost(exec, batch);
  const inputShape = [batch, ...model.graph.input.shape];
  const classes = exec.outputShape(batch)[1];
  const x = randomValues(sizeOf(inputShape), 12).map((v) => 0.5 + 0.5 * v);
  const dOut = randomValues(batch * classes, 13);
  const shape = `${label}, batch ${batch}`;
  // The input and the loss gradient with respect to the output, uploaded once per runner.
  const runner = (record: (step: Step, t: { x: Tensor; dOut: Tensor }) => Disposable) => (): Promise<Runner> => {
    const t = { x: gpu.tensor(inputShape, x), dOut: gpu.tensor([batch, classes], dOut) };
    return Promise.resolve({
      run: () => timer.time((step) => record(step, t)),
      [Symbol.dispose]: () => Object.values(t).forEach((v) => v.dispose()),
    });
  };
  const both = (a: Disposable, b: Disposable): Disposable => ({
    [Symbol.dispose]() {
      a[Symbol.dispose]();
      b[Symbol.dispose]();
    },
  });
  const cases: BenchCase[] = [];
  if (options.passes.includes("forward")) {
    cases.push({
      group: "model",
      name: "forward",
      shape,
      flops: cost.forward,
      bytes: cost.bytes,
      target: options.forwardTarget,
      start: runner((step, t) => exec.forward(step, t.x)),
      peer: options.ortPeer
        ? {
          name: "onnxruntime-node (CPU)",
          start: () =>
            ortRunner(
              exportOnnx(model.graph, model.weights, model.manifest.normalization),
              `${model.graph.input.name}.raw`,
              x,
              inputShape,
            ),
        }
        : undefined,
    });
  }
  if (options.passes.includes("training")) {
    cases.push({
      group: "model",
      name: "training forward + backward",
      shape,
      flops: cost.forward + cost.weightGrads + cost.inputGrads,
      bytes: 3 * cost.bytes, // backward reads and writes about twice what forward does
      start: runner((step, t) => {
        const tape = exec.forwardWithTape(step, t.x, { training: true });
        return both(exec.backward(step, tape, t.dOut, { input: false, params: true }), tape);
      }),
    });
  }
  if (options.passes.includes("saliency")) {
    const kernels = await saliencyKernels(gpu);
    cases.push({
      group: "saliency",
      name: "gradient map batch",
      shape,
      flops: cost.forward + cost.inputGrads + cost.firstLayer,
      bytes: 2 * cost.bytes,
      start: runner((step, t) => {
        const tape = exec.forwardWithTape(step, t.x);
        const grads = exec.backward(step, tape, t.dOut, { input: true });
        const map = gpu.tensor([batch, ...model.graph.input.shape.slice(1)]);
        recordSaliencyMap(step, kernels, { g: grads.input!, out: map, reduce: "maxAbs" });
        return both(both(grads, tape), map);
      }),
    });
  }
  return cases;
}
