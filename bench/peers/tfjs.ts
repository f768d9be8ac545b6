/**
 * TensorFlow.js with its WebGPU backend as a peer, on the same adapter as our kernels (its own
 * device). Its GPU time is `tf.time`'s kernelMs: timestamp queries around each of its programs.
 * Its convolutions are NHWC with HWIO filters, so inputs are given in that layout with our values.
 */
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-webgpu";
import type { Runner, Sample } from "../case.ts";

let ready: Promise<void> | null = null;

/** Selects the WebGPU backend once per process; throws if it cannot start. */
function webgpu(): Promise<void> {
  ready ??= tf.setBackend("webgpu").then((ok) => {
    if (!ok || tf.getBackend() !== "webgpu") throw new Error("tfjs: the webgpu backend did not start");
  });
  return ready;
}

/** A runner for a tfjs op: inputs are uploaded once; each run times the op and frees its result. */
export async function tfjsRunner(inputs: () => tf.Tensor[], op: (inputs: tf.Tensor[]) => tf.Tensor): Promise<Runner> {
  await webgpu();
  const tensors = inputs();
  await Promise.all(tensors.map((t) => t.data())); // uploaded before any timing
  return {
    async run(): Promise<Sample> {
      const start = performance.now();
      const timing = await tf.time(() => op(tensors).dispose());
      return { ms: timing.kernelMs as number, wallMs: performance.now() - start };
    },
    [Symbol.dispose]() {
      tensors.forEach((t) => t.dispose());
    },
  };
}

/** NCHW values as an NHWC tensor. */
export function nhwc(values: Float32Array, [n, c, h, w]: readonly number[]): tf.Tensor4D {
  return tf.tidy(() => tf.transpose(tf.tensor4d(values, [n, c, h, w]), [0, 2, 3, 1]));
}

/** [Cout, Cin, R, S] weights as an HWIO filter [R, S, Cin, Cout]. */
export function hwio(values: Float32Array, [co, ci, r, s]: readonly number[]): tf.Tensor4D {
  return tf.tidy(() => tf.transpose(tf.tensor4d(values, [co, ci, r, s]), [2, 3, 1, 0]));
}

export { tf };
