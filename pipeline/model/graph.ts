/**
 * The model graph: a zod-validated JSON list of nodes over a closed set of primitive ops.
 *
 * Every op here has a forward and a backward kernel. A node's output is named by the node's
 * name; its inputs name the graph input or earlier nodes (the list is in execution order).
 * Parameters are named tensors in the model's safetensors file.
 *
 * @example
 * ```ts
 * const graph = parseGraph(JSON.parse(await Deno.readTextFile("graph.json")), "graph.json");
 * ```
 */
import { z } from "zod";
import { InputError } from "../io/input_error.ts";
import { validated } from "../io/validated.ts";
import { REDUCE_ARITY, REDUCE_NODES, reduceParameterNames } from "./graph_ops/reduce.ts";
import { MOVEMENT_NODES } from "./graph_ops/movement.ts";
import { ELEMENTWISE_NODES } from "./graph_ops/elementwise.ts";

const Pair = z.tuple([z.number().int().min(0), z.number().int().min(0)]);
const PositivePair = z.tuple([z.number().int().min(1), z.number().int().min(1)]);
const Name = z.string().min(1);

const Conv2dNode = z.object({
  op: z.literal("conv2d"),
  stride: PositivePair.default([1, 1]),
  padding: Pair.default([0, 0]),
  /** Bottom and right padding where they differ from `padding` (which then pads top and left). */
  paddingEnd: Pair.optional(),
  dilation: PositivePair.default([1, 1]),
  groups: z.number().int().min(1).default(1),
  weight: Name,
  bias: Name.optional(),
});
const DenseNode = z.object({ op: z.literal("dense"), weight: Name, bias: Name.optional() });
const BatchNormNode = z.object({
  op: z.literal("batch_norm"),
  scale: Name,
  shift: Name,
  mean: Name,
  variance: Name,
  epsilon: z.number().min(0).default(1e-5),
});
const ReluNode = z.object({ op: z.literal("relu") });
const ClipNode = z.object({ op: z.literal("clip"), min: z.number(), max: z.number() });

/**
 * How far a clip bound reaches: an unbounded side is stored as plus or minus this, because JSON has
 * no Infinity. It is a finite float32 (the largest is about 3.4028e38), and the clip kernel sends an
 * infinite bound to the GPU as this same value, so a stored bound and an infinite one act alike.
 */
export const CLIP_BOUND = 3.4e38;
const LeakyReluNode = z.object({ op: z.literal("leaky_relu"), alpha: z.number().min(0).default(0.01) });
const SigmoidNode = z.object({ op: z.literal("sigmoid") });
const PoolFields = {
  kernel: PositivePair,
  stride: PositivePair.optional(),
  padding: Pair.default([0, 0]),
  /** Bottom and right padding where they differ from `padding` (which then pads top and left). */
  paddingEnd: Pair.optional(),
  dilation: PositivePair.optional(),
  /** Keep a partial last window that starts inside the input or its leading padding (ONNX ceil_mode). */
  ceilMode: z.boolean().optional(),
};
const MaxPoolNode = z.object({ op: z.literal("max_pool"), ...PoolFields });
const AvgPoolNode = z.object({
  op: z.literal("avg_pool"),
  ...PoolFields,
  countIncludePad: z.boolean().default(false),
});
const GlobalAvgPoolNode = z.object({ op: z.literal("global_avg_pool") });
const AddNode = z.object({ op: z.literal("add") });
/** Joins its inputs along `axis` (the channel axis, 1, when absent), in input order. */
const ConcatNode = z.object({ op: z.literal("concat"), axis: z.number().int().min(0).optional() });
const FlattenNode = z.object({ op: z.literal("flatten") });
const ReshapeNode = z.object({
  op: z.literal("reshape"),
  /** Shape without the batch axis; one entry may be -1. */
  shape: z.array(z.number().int().min(-1)).min(1),
});

const OpFields = z.discriminatedUnion("op", [
  Conv2dNode,
  DenseNode,
  BatchNormNode,
  ReluNode,
  ClipNode,
  LeakyReluNode,
  SigmoidNode,
  MaxPoolNode,
  AvgPoolNode,
  GlobalAvgPoolNode,
  AddNode,
  ConcatNode,
  FlattenNode,
  ReshapeNode,
  ...REDUCE_NODES,
  ...MOVEMENT_NODES,
  // Elementwise group: graph_ops/elementwise.ts.
  ...ELEMENTWISE_NODES,
]);

export const NodeSchema = z.intersection(
  z.object({ name: Name, inputs: z.array(Name).min(1) }),
  OpFields,
);

export const GraphSchema = z.object({
  format: z.literal("convnet-graph"),
  version: z.literal(1),
  input: z.object({
    name: Name,
    shape: z.tuple([z.number().int().min(1), z.number().int().min(1), z.number().int().min(1)]),
  }),
  nodes: z.array(NodeSchema).min(1),
  output: Name,
});

export type GraphNode = z.infer<typeof NodeSchema>;
export type Graph = z.infer<typeof GraphSchema>;
export type Op = GraphNode["op"];
/** The node type of one op, e.g. `NodeOf<"conv2d">`. */
export type NodeOf<O extends Op> = Extract<GraphNode, { op: O }>;

/** How many inputs each op takes (1 unless listed): [least, most]. */
const ARITY: Partial<Record<Op, readonly [number, number]>> = {
  add: [2, 2],
  concat: [2, Infinity],
  ...REDUCE_ARITY,
  binary: [1, 2], // one input with a constant, else two (its shape rule checks which)
};

/** Parameter names a node reads from the weights file. */
export function parameterNames(node: GraphNode): string[] {
  switch (node.op) {
    case "conv2d":
    case "dense":
      return node.bias ? [node.weight, node.bias] : [node.weight];
    case "batch_norm":
      return [node.scale, node.shift, node.mean, node.variance];
    case "constant":
      return [node.tensor];
    case "binary":
      return node.constant ? [node.constant] : [];
    default:
      return reduceParameterNames(node);
  }
}

/**
 * Validates a graph: schema, unique names, inputs defined before use, arity, output defined.
 * Throws an InputError naming the file and the node.
 */
export function parseGraph(json: unknown, source: string): Graph {
  const graph = validated(GraphSchema, json, source, "invalid graph");
  const defined = new Set([graph.input.name]);
  for (const node of graph.nodes) {
    if (defined.has(node.name)) throw new InputError(`${source}: node name "${node.name}" is used twice`);
    for (const input of node.inputs) {
      if (!defined.has(input)) {
        throw new InputError(`${source}: node "${node.name}" reads "${input}", which no earlier node defines`);
      }
    }
    const [least, most] = ARITY[node.op] ?? [1, 1];
    if (node.inputs.length < least || node.inputs.length > most) {
      const takes = least === most ? `${least}` : most === Infinity ? `${least} or more` : `${least} to ${most}`;
      throw new InputError(
        `${source}: node "${node.name}" (${node.op}) takes ${takes} input(s), got ${node.inputs.length}`,
      );
    }
    defined.add(node.name);
  }
  if (!defined.has(graph.output)) throw new InputError(`${source}: output "${graph.output}" is not a node`);
  return graph;
}
