/** A model in host memory: what a model folder or an imported ONNX file becomes. */
import type { Graph } from "./graph.ts";
import type { Manifest } from "./manifest.ts";

/** A named float32 array with its shape. */
export interface HostTensor {
  shape: number[];
  data: Float32Array;
}

/** Everything a model folder holds, in host memory. */
export interface ModelFiles {
  manifest: Manifest;
  graph: Graph;
  weights: Map<string, HostTensor>;
}
