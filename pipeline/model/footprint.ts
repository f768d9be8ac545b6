/**
 * The GPU bytes one image of a forward + input-gradient backward holds at its peak, found by
 * replaying the executor's allocations over the graph's shapes: each node's output (and a max
 * pool's argmax) allocated, inputs freed at their last use unless the tape keeps them
 * (tape_needs.ts), and in backward each node's input gradients allocated while its output
 * gradient is live. A convolution's GEMM stages what its kernels allocate (packed windows, sums,
 * an input gradient's columns: kernels/conv2d.ts), a dense layer's about the size of what it
 * writes, counted while it runs. Sizes are rounded up to the buffer pool's power-of-two buckets.
 *
 * @example
 * ```ts
 * import type { Graph } from "./graph.ts";
 * declare const graph: Graph;
 * declare const shapes: Map<string, number[]>;
 * declare const paramShape: (name: string) => readonly number[];
 * console.log(activationFootprint(graph, shapes, paramShape, "input-gradient"));
 * ```
 */
import { conv2dBackwardInputScratch, conv2dForwardScratch } from "../../kernels/conv2d.ts";
import { sizeOf } from "../io/size_of.ts";
import type { TapeKeep } from "./executor.ts";
import type { Graph, GraphNode } from "./graph.ts";
import { convGeometry } from "./layers.ts";
import type { ParamShape } from "./shapes.ts";
import { tapeValues } from "./tape_needs.ts";

/** The pool's bucket for a tensor of `shape` (kernels/tensor.ts: powers of two from 256 bytes). */
function bucket(shape: readonly number[]): number {
  return Math.max(256, 2 ** Math.ceil(Math.log2(Math.max(4, 4 * sizeOf(shape)))));
}

/**
 * Bytes a convolution's GEMM stages while it runs, forward or for the input gradient: what the
 * kernels allocate (packed windows, sums, the columns), at any binding limit (where the device's
 * splits the batch or falls back, fewer).
 */
function convScratchBytes(
  node: Extract<GraphNode, { op: "conv2d" }>,
  shapes: Map<string, number[]>,
  paramShape: ParamShape,
  pass: "forward" | "backward",
): number {
  const geom = convGeometry(node, shapes.get(node.inputs[0])!, [...paramShape(node.weight)]);
  const values = pass === "forward" ? conv2dForwardScratch(geom, Infinity) : conv2dBackwardInputScratch(geom, Infinity);
  return values.reduce((sum, count) => sum + bucket([count]), 0);
}

/** Peak bytes of a forward that keeps `keep` for a backward of the input gradient, at `shapes`' batch. */
export function activationFootprint(
  graph: Graph,
  shapes: Map<string, number[]>,
  paramShape: ParamShape,
  keep: TapeKeep,
): number {
  const size = (name: string) => bucket(shapes.get(name)!);
  const kept = keep === "all"
    ? null
    : typeof keep === "object"
    ? new Set([...keep.values, graph.output])
    : tapeValues(graph, { params: keep === "backward", training: false });
  const lastUse = new Map<string, number>();
  graph.nodes.forEach((node, i) => node.inputs.forEach((name) => lastUse.set(name, i)));
  // A dense layer's GEMM stages about what it writes.
  const scratch = (node: GraphNode, bytes: number, pass: "forward" | "backward") =>
    node.op === "conv2d" ? convScratchBytes(node, shapes, paramShape, pass) : node.op === "dense" ? bytes : 0;
  // The image, and its normalised copy the graph reads.
  let live = 2 * size(graph.input.name), peak = live;
  graph.nodes.forEach((node, i) => {
    const out = size(node.name) * (node.op === "max_pool" ? 2 : 1);
    live += out;
    peak = Math.max(peak, live + scratch(node, out, "forward"));
    const dead = [...new Set(node.inputs), node.name].filter((name) =>
      (lastUse.get(name) ?? -1) <= i && name !== graph.output && kept !== null && !kept.has(name)
    );
    for (const name of dead) live -= size(name);
  });
  // Backward: gradients live from their producer's backward until their own node's.
  const grads = new Set([graph.output]);
  live += size(graph.output);
  for (let i = graph.nodes.length - 1; i >= 0; i--) {
    const node = graph.nodes[i];
    if (!grads.has(node.name)) continue;
    const dx = node.inputs.reduce((sum, name) => sum + size(name), 0);
    peak = Math.max(peak, live + dx + scratch(node, dx, "backward"));
    live += dx - size(node.name);
    grads.delete(node.name);
    for (const name of node.inputs) {
      if (grads.has(name)) live -= size(name); // accumulated into the existing gradient, then freed
      grads.add(name);
    }
  }
  return Math.max(peak, live + size(graph.input.name));
}
