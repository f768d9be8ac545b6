/**
 * Movement ops: values of any rank rearranged without arithmetic (view, permute, slice, pad,
 * expand) and constants brought into the graph (constant). Concat lives in graph.ts (its `axis`
 * is optional there, the channel axis when absent); Split, Gather, Squeeze, Unsqueeze and Flatten
 * are lowered at import onto slices and views.
 *
 * ## Batch-dependent extents
 *
 * A graph runs at any batch size B, and a node stores no batch size. Every value computed from the
 * image has exactly one axis whose extent depends on B, always as `k * B` (k >= 1 is its extent at
 * batch 1): axis 0 for most values, a merged axis where a model folds the batch into another
 * (Swin's window partition: [B, H, W, C] -> [B * nW, 49, C], so k = nW), a later axis after a
 * transpose ([L, B, D] in an attention that puts the sequence first).
 *
 * - `view.shape` and `constant.shape` are full shapes in which that one entry is written `-k`:
 *   -1 for a plain batch axis, -64 for 64 windows per image. The rules check the size adds up.
 * - `expand.shape` writes 1 there: the input already carries the batch, and ONNX's broadcasting
 *   keeps an input extent where the target says 1.
 * - `slice` and `pad` never touch the batch-dependent axis (the importer checks).
 * - `constant` reads its one input (the graph input) only for B, its axis 0; ViT's class token is a
 *   constant [1, 1, D] with shape [-1, 1, D], concatenated with the patch tokens on axis 1.
 *
 * How the importer finds the entry (onnx/ops_movement.ts): it tracks every activation's shape at
 * batch 1 and at batch 2 (by running these rules at both), and every import-time integer value
 * (Shape -> Gather -> Unsqueeze -> Concat chains, folded by onnx/constant_folding.ts) at both too.
 * A reshape or expand target that comes from such a chain has its batch-dependent entry where the
 * two differ. A target the exporter baked into a constant at the file's fixed batch F (ShuffleNet's
 * channel shuffle `[F, g, C/g, H, W]`, then `[F, -1, H, W]`) is placed by where the input's batch
 * sits in memory: with b the input's batch axis (extent k at batch 1) and P = prod(input[..b]), the
 * batch block starts at P * m for some m dividing k (m = 1: the batch outside an image's windows, as
 * Swin's [B * nW]; m = k: inside, as an attention's [L * B] rows), and the output axis j takes it when
 * prod(target[..j]) divides P * m and P * m * F divides prod(target[..j+1]). The smallest m that
 * fits wins, then the axis that starts exactly at P * m. At F = 1 a merge of the batch with the axis
 * before it cannot be told from a plain reshape: export at batch 2 or more (or with a Shape chain).
 *
 * @example
 * ```ts
 * const window = ViewNode.parse({ op: "view", shape: [-64, 49, 96] });
 * console.log(window.shape); // [-64, 49, 96]: 64 windows of 49 tokens per image
 * ```
 */
import { z } from "zod";

const Name = z.string().min(1);
const Extent = z.number().int().min(1);
/** A full shape whose one batch-dependent entry is -k (k times the batch). */
const BatchShape = z.array(z.number().int().refine((d) => d !== 0, "an extent cannot be 0")).min(1);

/** The input under another full shape of the same size (row-major order kept). */
export const ViewNode = z.object({ op: z.literal("view"), shape: BatchShape });

/** Axis j of the output is axis perm[j] of the input. */
export const PermuteNode = z.object({ op: z.literal("permute"), perm: z.array(z.number().int().min(0)).min(1) });

/**
 * Along each listed axis, `counts[i]` elements from `starts[i]` every `steps[i]` (negative walks
 * back); other axes are kept whole.
 */
export const SliceNode = z.object({
  op: z.literal("slice"),
  axes: z.array(z.number().int().min(0)).min(1),
  starts: z.array(z.number().int().min(0)),
  counts: z.array(Extent),
  steps: z.array(z.number().int().refine((s) => s !== 0, "a step cannot be 0")),
});

/**
 * Constant padding: `pads` lists every axis's padding before, then every axis's padding after
 * (ONNX's order); a negative amount crops.
 */
export const PadNode = z.object({ op: z.literal("pad"), pads: z.array(z.number().int()).min(2), value: z.number() });

/** Broadcast (numpy rules, shapes aligned on the right) to `shape`; 1 keeps the input's extent. */
export const ExpandNode = z.object({ op: z.literal("expand"), shape: z.array(Extent).min(1) });

/** The parameter `tensor` broadcast to `shape` (one entry -k: k times the batch of the input). */
export const ConstantNode = z.object({ op: z.literal("constant"), tensor: Name, shape: BatchShape });

/** Every movement node schema, for graph.ts's union. */
export const MOVEMENT_NODES = [ViewNode, PermuteNode, SliceNode, PadNode, ExpandNode, ConstantNode] as const;
