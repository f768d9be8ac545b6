/**
 * Softmax and cross-entropy over the rows of logits [B, C]: probabilities, per-example loss for
 * u32 labels, and the gradient of the mean cross-entropy with respect to the logits.
 *
 * @example
 * ```ts
 * import { Gpu } from "./gpu.ts";
 * const gpu = await Gpu.create();
 * const kernel = await softmaxXentKernel(gpu);
 * const logits = gpu.tensor([1, 2], [0, 0]);
 * const labels = gpu.tensor([1], [1], "u32");
 * const probs = gpu.tensor([1, 2]), loss = gpu.tensor([1]);
 * await gpu.run((step) => recordSoftmaxXent(step, kernel, { logits, probs, labels, loss }));
 * console.log(await gpu.read(probs), await gpu.read(loss)); // [0.5, 0.5] [0.693...]
 * ```
 */
import tgpu from "typegpu";
import * as d from "typegpu/data";
import { elementGrid, type Gpu, type Step } from "./gpu.ts";
import { defineKernel, type Kernel, readWgsl } from "./kernel.ts";
import { checkSizes, checkU32, type TensorLike } from "./tensor.ts";

const SoftmaxXentParams = d.struct({
  B: d.u32,
  C: d.u32,
  op: d.u32,
  hasLabels: d.u32,
}).$name("SoftmaxXentParams");

const output = { storage: d.arrayOf(d.f32), access: "mutable" } as const;

const layout = tgpu.bindGroupLayout({
  params: { uniform: SoftmaxXentParams },
  logits: { storage: d.arrayOf(d.f32), access: "readonly" },
  labels: { storage: d.arrayOf(d.u32), access: "readonly" },
  out: output,
  loss: output,
});

export const softmaxXentSpec = defineKernel(
  "softmax_xent",
  layout,
  readWgsl(import.meta.url, "softmax_xent.wgsl") + readWgsl(import.meta.url, "workgroup_reduce.wgsl"),
);

export type SoftmaxXentKernel = Kernel<typeof layout.entries>;

/** Compiles the softmax / cross-entropy kernel on a device (cached). */
export function softmaxXentKernel(gpu: Gpu): Promise<SoftmaxXentKernel> {
  return gpu.kernel(softmaxXentSpec);
}

export interface SoftmaxXentArgs {
  /** [B, C] */
  logits: TensorLike;
  /** [B, C], overwritten with the softmax of each row. */
  probs: TensorLike;
  /** u32 [B], each < C; give with `loss`. */
  labels?: TensorLike;
  /** [B], overwritten with -log softmax(row)[label]; a label >= C gives 3.4e38. */
  loss?: TensorLike;
}

export interface SoftmaxXentBackwardArgs {
  logits: TensorLike;
  /** u32 [B]; a label >= C contributes no one-hot term. */
  labels: TensorLike;
  /** [B, C], overwritten with (softmax - onehot(label)) / B: the gradient of the mean loss. */
  dlogits: TensorLike;
}

function dispatchSoftmax(
  step: Step,
  kernel: SoftmaxXentKernel,
  op: 0 | 1,
  tensors: { logits: TensorLike; out: TensorLike; labels?: TensorLike; loss?: TensorLike },
): void {
  const { logits, out, labels, loss } = tensors;
  if (logits.shape.length !== 2) throw new Error(`softmax_xent: logits must be [B, C], got [${logits.shape}]`);
  const [B, C] = logits.shape;
  checkSizes("softmax_xent", {
    [op === 0 ? "probs" : "dlogits"]: [out, logits.shape],
    ...(labels ? { labels: [labels, B] } : {}),
    ...(loss ? { loss: [loss, B] } : {}),
  });
  if (labels) checkU32("softmax_xent", "labels", labels);
  step.dispatch(kernel, {
    params: { B, C, op, hasLabels: labels ? 1 : 0 },
    logits,
    // Without labels, bind logits (never read as labels): the placeholder is bound to loss,
    // and one buffer may not be both read-only and writable in a dispatch.
    labels: labels ?? logits,
    out,
    loss: loss ?? step.placeholder,
  }, elementGrid(B, 1));
}

/** Records probs = softmax(logits) per row and, with labels, the per-example cross-entropy. */
export function recordSoftmaxXent(step: Step, kernel: SoftmaxXentKernel, args: SoftmaxXentArgs): void {
  if ((args.labels === undefined) !== (args.loss === undefined)) {
    throw new Error("softmax_xent: give labels and loss together, or neither");
  }
  dispatchSoftmax(step, kernel, 0, { logits: args.logits, out: args.probs, labels: args.labels, loss: args.loss });
}

/** Records dlogits = (softmax(logits) - onehot(labels)) / B, the gradient of the mean cross-entropy. */
export function recordSoftmaxXentBackward(step: Step, kernel: SoftmaxXentKernel, args: SoftmaxXentBackwardArgs): void {
  dispatchSoftmax(step, kernel, 1, { logits: args.logits, out: args.dlogits, labels: args.labels });
}
