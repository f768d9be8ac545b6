/**
 * Features: the activations of one named node of the model (by default the input of the final
 * dense layer, the model's own embedding of an image), streamed batch by batch for every image
 * of a data source, with the logits and predicted class from the same forward pass.
 *
 * @example
 * ```ts
 * import { Gpu } from "../../kernels/gpu.ts";
 * import { Executor } from "../model/executor.ts";
 * import { loadModelFolder } from "../model/model_folder.ts";
 * import { openDataSource } from "../data/mod.ts";
 * const exec = await Executor.create(await Gpu.create(), await loadModelFolder("fixtures/models/digits"));
 * const source = await openDataSource("mnist:test");
 * const table = await collectFeatures(exec, source.examples());
 * console.log(table.count, table.width); // 2000 1568
 * ```
 */
import { argmaxRows } from "../model/argmax.ts";
import type { Example } from "../data/types.ts";
import type { Executor } from "../model/executor.ts";
import type { Graph } from "../model/graph.ts";
import { InputError } from "../io/input_error.ts";
import { sizeOf } from "../io/size_of.ts";

/** One batch of features. */
export interface FeatureBatch {
  /** Each image's index in its source's order. */
  indices: Int32Array;
  labels: Int32Array;
  /** [rows, width] */
  features: Float32Array;
  /** [rows, classes] */
  logits: Float32Array;
  predicted: Int32Array;
}

/**
 * The features of a whole data set, row i for the i-th image streamed (logits are not kept).
 * Every row has its index, label and prediction; `slots[i]` is row i's row in `features`, or -1
 * where a bounded store kept no features for it. A store that keeps its rows elsewhere (some on
 * disk) leaves `features` empty and gives `readSlots`; `featureRows` reads either kind.
 */
export interface FeatureTable extends Omit<FeatureBatch, "logits"> {
  count: number;
  width: number;
  classes: number;
  node: string;
  slots: Int32Array;
  /** The features of the given slots, in that order ([slots.length, width]). */
  readSlots?(slots: Int32Array): Promise<Float32Array>;
}

/**
 * The features of the given table rows, each of which has a slot, in that order ([rows, width]).
 *
 * @example
 * ```ts
 * declare const table: FeatureTable;
 * const first = await featureRows(table, [0]); // row 0's features, when the table kept them
 * ```
 */
export async function featureRows(table: FeatureTable, rows: readonly number[]): Promise<Float32Array> {
  const slots = Int32Array.from(rows, (r) => table.slots[r]);
  if (slots.some((s) => s < 0)) throw new Error("features: a row asked for has no stored features");
  if (table.readSlots) return await table.readSlots(slots);
  const { width } = table;
  const out = new Float32Array(slots.length * width);
  slots.forEach((s, i) => out.set(table.features.subarray(s * width, (s + 1) * width), i * width));
  return out;
}

export interface FeatureOptions {
  /** The node whose output is the feature vector (default: `defaultFeatureNode`). */
  node?: string;
  /** Images per forward pass (default 128). */
  batchSize?: number;
}

/**
 * The input of the model's final dense layer (the "flatten" node of the shipped models), or the
 * output of the last node before the output when the output is not a dense layer.
 */
export function defaultFeatureNode(graph: Graph): string {
  const last = graph.nodes.find((n) => n.name === graph.output)!;
  if (last.op === "dense") return last.inputs[0];
  const before = graph.nodes[graph.nodes.indexOf(last) - 1];
  return before ? before.name : graph.input.name;
}

function checkNode(graph: Graph, node: string): void {
  if (node !== graph.input.name && !graph.nodes.some((n) => n.name === node)) {
    const names = [graph.input.name, ...graph.nodes.map((n) => n.name)].join(", ");
    throw new InputError(`features: the model has no node "${node}" (nodes: ${names})`);
  }
}

/** Groups examples into batches of at most `size`. */
async function* batchesOf(examples: AsyncIterable<Example>, size: number): AsyncGenerator<Example[]> {
  let batch: Example[] = [];
  for await (const example of examples) {
    batch.push(example);
    if (batch.length === size) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}

/** Streams the features of every example, one forward pass (and one readback of two tensors) per batch. */
export async function* streamFeatures(
  exec: Executor,
  examples: AsyncIterable<Example>,
  options: FeatureOptions = {},
): AsyncGenerator<FeatureBatch> {
  const node = options.node ?? defaultFeatureNode(exec.graph);
  checkNode(exec.graph, node);
  const gpu = exec.gpu;
  for await (const batch of batchesOf(examples, options.batchSize ?? 128)) {
    const per = batch[0].image.length;
    const images = new Float32Array(batch.length * per);
    batch.forEach((e, i) => images.set(e.image, i * per));
    using x = gpu.tensor([batch.length, ...exec.graph.input.shape], images);
    let tape!: ReturnType<Executor["forwardWithTape"]>;
    await gpu.run((step) => (tape = exec.forwardWithTape(step, x, { keep: { values: [node] } })));
    using _ = tape;
    const [logitBytes, featureBytes] = await gpu.readMany([tape.output, tape.values.get(node)!]);
    const logits = new Float32Array(logitBytes);
    yield {
      indices: Int32Array.from(batch, (e) => e.index),
      labels: Int32Array.from(batch, (e) => e.label),
      features: new Float32Array(featureBytes),
      logits,
      predicted: argmaxRows(logits, batch.length),
    };
  }
}

/** Collects the stream into one table (the feature store the bias stage reads). */
export async function collectFeatures(
  exec: Executor,
  examples: AsyncIterable<Example>,
  options: FeatureOptions = {},
): Promise<FeatureTable> {
  const node = options.node ?? defaultFeatureNode(exec.graph);
  const shape = exec.shapes(1).get(node);
  if (!shape) checkNode(exec.graph, node);
  const width = sizeOf(shape!.slice(1));
  const classes = exec.outputShape(1)[1];
  const parts: FeatureBatch[] = [];
  for await (const batch of streamFeatures(exec, examples, { ...options, node })) parts.push(batch);
  const concat = <T extends Int32Array | Float32Array>(pick: (b: FeatureBatch) => T, make: (n: number) => T): T => {
    const out = make(parts.reduce((n, b) => n + pick(b).length, 0));
    let at = 0;
    for (const b of parts) {
      out.set(pick(b), at);
      at += pick(b).length;
    }
    return out;
  };
  const indices = concat((b) => b.indices, (n) => new Int32Array(n));
  return {
    count: indices.length,
    width,
    classes,
    node,
    indices,
    labels: concat((b) => b.labels, (n) => new Int32Array(n)),
    features: concat((b) => b.features, (n) => new Float32Array(n)),
    predicted: concat((b) => b.predicted, (n) => new Int32Array(n)),
    slots: Int32Array.from(indices, (_, i) => i),
  };
}
