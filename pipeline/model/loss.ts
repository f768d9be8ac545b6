/**
 * The loss the engine differentiates: mean cross-entropy of the logits against labels.
 * Recording forward, loss and backward in one step keeps the whole pass in one command encoder.
 */
import type { Step } from "../../kernels/gpu.ts";
import { recordSoftmaxXent, recordSoftmaxXentBackward } from "../../kernels/softmax_xent.ts";
import type { Tensor, TensorLike } from "../../kernels/tensor.ts";
import type { BackwardOptions, Executor, Gradients } from "./executor.ts";

/** Logits and gradients of one forward + backward; dispose both when done. */
export interface LossGradient extends Disposable {
  logits: Tensor;
  /** Per-example cross-entropy [batch], when asked for. */
  loss: Tensor | null;
  grads: Gradients;
}

/**
 * Records forward, the gradient of the mean cross-entropy for `labels` (u32 [batch]) and the
 * backward pass. Labels >= the class count contribute no one-hot term.
 */
export function recordCrossEntropyGradient(
  step: Step,
  exec: Executor,
  x: TensorLike,
  labels: TensorLike,
  options: BackwardOptions & {
    loss?: boolean;
    training?: boolean;
    /** Keep every value on the tape (a reference for what the trimmed tape computes, or its memory). */
    keepAll?: boolean;
  } = {},
): LossGradient {
  // The tape is this function's alone: keep only what the gradients asked for read.
  const keep = options.keepAll ? "all" : options.params ? "backward" : "input-gradient";
  const tape = exec.forwardWithTape(step, x, { training: options.training, keep });
  const logits = tape.output;
  const dlogits = exec.gpu.tensor(logits.shape);
  let loss: Tensor | null = null;
  if (options.loss) {
    loss = exec.gpu.tensor([logits.shape[0]]);
    using probs = exec.gpu.tensor(logits.shape);
    recordSoftmaxXent(step, exec.kernels.softmaxXent, { logits, probs, labels, loss });
  }
  recordSoftmaxXentBackward(step, exec.kernels.softmaxXent, { logits, labels, dlogits });
  const grads = exec.backward(step, tape, dlogits, options);
  dlogits.dispose();
  tape.values.delete(tape.outputName); // the caller owns the logits
  tape.dispose();
  return {
    logits,
    loss,
    grads,
    [Symbol.dispose]() {
      logits.dispose();
      loss?.dispose();
      grads[Symbol.dispose]();
    },
  };
}
