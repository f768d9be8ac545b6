/**
 * The reduce group's graph ops: reductions along axes, softmax along an axis, layer and instance
 * normalisation, and matmul between two activations. Axes are over the full shape (axis 0 is the
 * batch), non-negative (the importer normalises ONNX's negative axes).
 *
 * - `reduce`: sum, mean or max along `axes`; with `keepdims` the reduced axes stay as 1. The
 *   gradient of max goes to the first maximum of each reduced set (lowest flat index), as
 *   `torch.max(x, dim)` picks its index; `torch.amax` would split it between tied maxima.
 * - `softmax`: softmax (or with `log`, log-softmax) along `axis`.
 * - `layer_norm`: normalises over the axes from `axis` to the last, then `* scale + bias`; scale and
 *   bias have the shape of those axes (ONNX LayerNormalization).
 * - `instance_norm`: normalises each (image, channel) over the spatial axes (from axis 2), then a
 *   per-channel `* scale + bias` (ONNX InstanceNormalization).
 * - `matmul`: the product of the last two axes of its two inputs, batched over the other axes
 *   with numpy broadcasting (ONNX MatMul; a rank-1 operand is a row or column vector whose axis is
 *   dropped from the output). `transA`/`transB` swap an operand's last two axes first (Einsum).
 *
 * @example
 * ```ts
 * const node = ReduceNode.parse({ op: "reduce", kind: "mean", axes: [2, 3] });
 * console.log(node.keepdims); // true
 * ```
 */
import { z } from "zod";

const Name = z.string().min(1);
const Axis = z.number().int().min(0);

export const ReduceNode = z.object({
  op: z.literal("reduce"),
  kind: z.enum(["sum", "mean", "max"]),
  axes: z.array(Axis).min(1),
  keepdims: z.boolean().default(true),
});

export const SoftmaxNode = z.object({ op: z.literal("softmax"), axis: Axis, log: z.boolean().default(false) });

export const LayerNormNode = z.object({
  op: z.literal("layer_norm"),
  axis: Axis,
  epsilon: z.number().min(0).default(1e-5),
  scale: Name,
  bias: Name.optional(),
});

export const InstanceNormNode = z.object({
  op: z.literal("instance_norm"),
  epsilon: z.number().min(0).default(1e-5),
  scale: Name,
  bias: Name.optional(),
});

export const MatmulNode = z.object({
  op: z.literal("matmul"),
  transA: z.boolean().default(false),
  transB: z.boolean().default(false),
});

/** Every node schema of the group, for the graph's union. */
export const REDUCE_NODES = [ReduceNode, SoftmaxNode, LayerNormNode, InstanceNormNode, MatmulNode] as const;

/** Inputs each of the group's ops takes when not one: [least, most]. */
export const REDUCE_ARITY = { matmul: [2, 2] } as const;

/** Parameter names a node of the group reads (scale, then bias when present). */
export function reduceParameterNames(node: { op: string; scale?: string; bias?: string }): string[] {
  if (node.op !== "layer_norm" && node.op !== "instance_norm") return [];
  return node.bias ? [node.scale!, node.bias] : [node.scale!];
}
