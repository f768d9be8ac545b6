/**
 * A model's graph as a table: each node's op, inputs, output shape, parameter count and FLOPs per
 * image, with totals. FLOPs count a multiply-add as 2 and elementwise work as 1 per element
 * (sigmoid as 4); reshapes and concatenation are copies and count 0. Batch-norm running statistics
 * are not counted as parameters.
 *
 * @example
 * ```ts
 * import { loadModelFolder } from "./model_folder.ts";
 * const summary = summarizeModel(await loadModelFolder("fixtures/models/digits"));
 * console.log(formatSummary(summary));
 * ```
 */
import type { GraphNode } from "./graph.ts";
import { loadModel } from "./load_model.ts";
import type { ModelFiles } from "./model_files.ts";
import { sizeOf } from "../io/size_of.ts";
import { graphShapes } from "./shapes.ts";
import { reduceParameterNames } from "./graph_ops/reduce.ts";
import { reduceGroupFlops } from "./shape_rules/reduce.ts";

export interface LayerSummary {
  name: string;
  op: GraphNode["op"];
  inputs: string[];
  /** Output shape of one image (no batch axis). */
  shape: number[];
  parameters: number;
  flops: number;
}

export interface ModelSummary {
  name: string;
  input: [number, number, number];
  classes: number;
  layers: LayerSummary[];
  /** Distinct parameters (a tensor two nodes share counts once). */
  parameters: number;
  flops: number;
  /** What an import changed (from the manifest's provenance), e.g. a dropped softmax. */
  notes: string[];
}

/** Trainable parameter names of a node (batch-norm running statistics left out). */
function trainable(node: GraphNode): string[] {
  switch (node.op) {
    case "conv2d":
    case "dense":
      return node.bias ? [node.weight, node.bias] : [node.weight];
    case "batch_norm":
      return [node.scale, node.shift];
    case "constant":
      return [node.tensor];
    case "binary":
      return node.constant ? [node.constant] : [];
    default:
      return reduceParameterNames(node);
  }
}

/** FLOPs of one image through a node, from its input and output shapes (batch 1) and weight shape. */
function nodeFlops(node: GraphNode, inputs: number[][], out: number[], weight: number[] | undefined): number {
  const elements = sizeOf(out);
  switch (node.op) {
    case "conv2d":
    case "dense":
      // Every output element is a dot product over the weight's fan-in (dims after the first).
      return elements * (2 * sizeOf(weight!.slice(1)) + (node.bias ? 1 : 0));
    case "batch_norm":
      return 2 * elements;
    case "sigmoid":
      return 4 * elements;
    case "relu":
    case "clip":
    case "leaky_relu":
    case "add":
      return elements;
    case "max_pool":
    case "avg_pool":
      return elements * node.kernel[0] * node.kernel[1];
    case "global_avg_pool":
      return sizeOf(inputs[0]);
    case "concat":
    case "flatten":
    case "reshape":
    case "view":
    case "permute":
    case "slice":
    case "pad":
    case "expand":
    case "constant":
      return 0;
    case "reduce":
    case "softmax":
    case "layer_norm":
    case "instance_norm":
    case "matmul":
      return reduceGroupFlops(node, inputs, out);
    // Elementwise group: a few operations per element (gelu and erf about 20, counted as 4 like sigmoid).
    case "unary":
    case "hard_sigmoid":
    case "pow":
      return 4 * elements;
    case "binary":
      return elements;
  }
}

/**
 * Summarises a model: one row per node in execution order, and the totals.
 *
 * @example
 * ```ts
 * import type { ModelFiles } from "./model_files.ts";
 * declare const model: ModelFiles;
 * const { parameters, flops } = summarizeModel(model);
 * ```
 */
export function summarizeModel(model: ModelFiles): ModelSummary {
  const { graph, weights, manifest } = model;
  const paramShape = (name: string) => weights.get(name)!.shape;
  const shapes = graphShapes(graph, paramShape, 1);
  const layers = graph.nodes.map((node): LayerSummary => {
    const out = shapes.get(node.name)!;
    const weight = "weight" in node ? paramShape(node.weight) : undefined;
    return {
      name: node.name,
      op: node.op,
      inputs: node.inputs,
      shape: out.slice(1),
      parameters: trainable(node).reduce((sum, name) => sum + sizeOf(paramShape(name)), 0),
      flops: nodeFlops(node, node.inputs.map((i) => shapes.get(i)!), out, weight),
    };
  });
  const distinct = new Set(graph.nodes.flatMap(trainable));
  const notes = manifest.provenance?.notes;
  return {
    name: manifest.name,
    input: graph.input.shape,
    classes: shapes.get(graph.output)![1],
    layers,
    parameters: [...distinct].reduce((sum, name) => sum + sizeOf(paramShape(name)), 0),
    flops: layers.reduce((sum, l) => sum + l.flops, 0),
    notes: Array.isArray(notes) ? notes.map(String) : [],
  };
}

/** Formats a count with thousands separators. */
const count = (n: number) => n.toLocaleString("en-US");

/** Formats FLOPs with a unit (k, M, G). */
function flopsText(n: number): string {
  const [unit, scale] = n >= 1e9 ? ["G", 1e9] : n >= 1e6 ? ["M", 1e6] : n >= 1e3 ? ["k", 1e3] : ["", 1];
  return `${(n / scale).toFixed(scale === 1 ? 0 : 2)} ${unit}FLOPs`;
}

/**
 * The summary as a fixed-width table for the terminal.
 *
 * @example
 * ```ts
 * import type { ModelFiles } from "./model_files.ts";
 * declare const model: ModelFiles;
 * console.log(formatSummary(summarizeModel(model)));
 * ```
 */
export function formatSummary(s: ModelSummary): string {
  const header = ["node", "op", "inputs", "output", "params", "FLOPs"];
  const rows = s.layers.map((l) => [
    l.name,
    l.op,
    l.inputs.join(", "),
    `[${l.shape.join(", ")}]`,
    count(l.parameters),
    count(l.flops),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i >= 4 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join("  ").trimEnd();
  return [
    `${s.name}: input [${s.input.join(", ")}], ${s.classes} classes, ${s.layers.length} nodes`,
    line(header),
    ...rows.map(line),
    `total: ${count(s.parameters)} parameters (batch-norm running statistics not counted), ` +
    `${flopsText(s.flops)} per image (${count(s.flops)}; a multiply-add counts 2)`,
    ...s.notes.map((n) => `note: ${n}`),
  ].join("\n");
}

/**
 * The summary of a model folder or .onnx file as `deno task predict --summary` prints it: a line
 * naming the file, its kind and SHA-256, then the table.
 *
 * @example
 * ```ts
 * console.log(await describeModel("fixtures/models/digits"));
 * ```
 */
export async function describeModel(path: string, options: { sidecar?: string } = {}): Promise<string> {
  const { files, sha256, source } = await loadModel(path, options);
  return `${path} (${source}, sha256 ${sha256})\n${formatSummary(summarizeModel(files))}`;
}
