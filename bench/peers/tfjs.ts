/**
 * TensorFlow.js with its WebGPU backend as a peer, on the same adapter as our kernels (its own
 * device). Its GPU time is `tf.time`'s kernelMs: timestamp queries around each of its programs.
 * Its convolutions are NHWC with HWIO filters, so inputs are given in that layout with our values.
 */
import type * as tf from "@tensorflow/tfjs-core";
import type { Runner, Sample } from "../case.ts";

/** The TensorFlow.js module. */
export type Tfjs = typeof tf;

let ready: Promise<Tfjs> | null = null;

/**
 * Loads TensorFlow.js and selects its WebGPU backend, once per process; throws if it cannot start.
 * Loaded here, not at the top: a tree without it (the GPU host's pack installs only the commands'
 * packages) still benches, and only this peer reports the error.
 */
function webgpu(): Promise<Tfjs> {
  ready ??= (async () => {
    const tfjs = await import("@tensorflow/tfjs-core");
    await import("@tensorflow/tfjs-backend-webgpu");
    const ok = await tfjs.setBackend("webgpu");
    if (!ok || tfjs.getBackend() !== "webgpu") throw new Error("tfjs: the webgpu backend did not start");
    return tfjs;
  })();
  return ready;
}

/** A runner for a tfjs op: inputs are uploaded once; each run times the op and frees its result. */
export async function tfjsRunner(
  inputs: (tfjs: Tfjs) => tf.Tensor[],
  op: (tfjs: Tfjs, inputs: tf.Tensor[]) => tf.Tensor,
): Promise<Runner> {
  const tfjs = await webgpu();
  const tensors = inputs(tfjs);
  await Promise.all(tensors.map((t) => t.data())); // uploaded before any timing
  return {
    async run(): Promise<Sample> {
      const start = performance.now();
      const timing = await tfjs.time(() => op(tfjs, tensors).dispose());
      return { ms: timing.kernelMs as number, wallMs: performance.now() - start };
    },
    [Symbol.dispose]() {
      tensors.forEach((t) => t.dispose());
    },
  };
}

/** NCHW values as an NHWC tensor. */
export function nhwc(tfjs: Tfjs, values: Float32Array, [n, c, h, w]: readonly number[]): tf.Tensor4D {
  return tfjs.tidy(() => tfjs.transpose(tfjs.tensor4d(values, [n, c, h, w]), [0, 2, 3, 1]));
}

/** [Cout, Cin, R, S] weights as an HWIO filter [R, S, Cin, Cout]. */
export function hwio(tfjs: Tfjs, values: Float32Array, [co, ci, r, s]: readonly number[]): tf.Tensor4D {
  return tfjs.tidy(() => tfjs.transpose(tfjs.tensor4d(values, [co, ci, r, s]), [2, 3, 1, 0]));
}
