/**
 * ONNX Runtime (onnxruntime-node, CPU execution provider, default threads) as a peer for a whole
 * forward pass: the model is exported from our graph (onnx_export.ts) and fed the same input.
 * Its time is wall-clock time of `session.run`, the work being on the CPU.
 */
import type { Runner } from "../case.ts";

/** A runner for one forward pass of `model` on `input` ([batch, ...inputShape]). */
export async function ortRunner(
  model: Uint8Array,
  inputName: string,
  input: Float32Array,
  shape: number[],
): Promise<Runner> {
  // Loaded here, not at the top: its native build may be absent (the GPU host's pack leaves it out), and
  // then only this peer reports the error instead of the whole bench failing to start.
  const ort = await import("onnxruntime-node");
  const session = await ort.InferenceSession.create(model, {
    executionProviders: ["cpu"],
    graphOptimizationLevel: "all",
  });
  const feeds = { [inputName]: new ort.Tensor("float32", input, shape) };
  return {
    async run() {
      const start = performance.now();
      const out = await session.run(feeds);
      const ms = performance.now() - start;
      Object.values(out).forEach((t) => t.dispose());
      return { ms, wallMs: ms };
    },
    [Symbol.dispose]() {
      session.release();
    },
  };
}
