/**
 * The largest float32 tensor a graph needs at a batch size, parameters and node outputs alike:
 * each is one GPU storage buffer, so a model whose largest tensor is over the adapter's buffer
 * limits can be refused before any weight is allocated or kernel recorded.
 *
 * @example
 * ```ts
 * import type { ModelFiles } from "./model_files.ts";
 * declare const model: ModelFiles;
 * const largest = largestTensor(model.graph, (name) => model.weights.get(name)!.shape, 64);
 * console.log(largest.name, largest.bytes);
 * ```
 */
import type { Gpu } from "../../kernels/gpu.ts";
import { InputError } from "../io/input_error.ts";
import { sizeOf } from "../io/size_of.ts";
import { type Graph, parameterNames } from "./graph.ts";
import { graphShapes, type ParamShape } from "./shapes.ts";

/** One tensor of a graph: a parameter, or a node's output at the batch size asked for. */
export interface TensorSize {
  kind: "parameter" | "output";
  name: string;
  shape: readonly number[];
  /** float32 bytes */
  bytes: number;
}

/**
 * The largest parameter or node output of `graph` at `batch` images (shapes checked as
 * `graphShapes` does), leaving out the tensors `skip` names.
 */
export function largestTensor(
  graph: Graph,
  paramShape: ParamShape,
  batch: number,
  skip: ReadonlySet<string> = new Set(),
): TensorSize {
  let largest: TensorSize = { kind: "output", name: graph.input.name, shape: [batch, ...graph.input.shape], bytes: 0 };
  const consider = (kind: TensorSize["kind"], name: string, shape: readonly number[]) => {
    const bytes = 4 * sizeOf(shape);
    if (bytes > largest.bytes && !skip.has(name)) largest = { kind, name, shape, bytes };
  };
  for (const name of graph.nodes.flatMap(parameterNames)) consider("parameter", name, paramShape(name));
  for (const [name, shape] of graphShapes(graph, paramShape, batch)) consider("output", name, shape);
  return largest;
}

/** Dense weights: bound in blocks of rows when over one binding, so only the buffer limit bounds them. */
function blockedWeights(graph: Graph): Set<string> {
  return new Set(graph.nodes.flatMap((node) => (node.op === "dense" ? [node.weight] : [])));
}

/**
 * Refuses, with an InputError naming `flag`, the tensor and both sizes, a graph whose largest
 * tensor at `batch` images no binding of this adapter can hold, or a dense weight (bound in blocks
 * of rows) no buffer can.
 *
 * @example
 * ```ts
 * import type { Gpu } from "../../kernels/gpu.ts";
 * import type { ModelFiles } from "./model_files.ts";
 * declare const gpu: Gpu;
 * declare const model: ModelFiles;
 * requireFitsAdapter(gpu, model.graph, (name) => model.weights.get(name)!.shape, 4096, "--batch-size 4096");
 * ```
 */
export function requireFitsAdapter(gpu: Gpu, graph: Graph, paramShape: ParamShape, batch: number, flag: string): void {
  const blocked = blockedWeights(graph);
  const limit = Math.min(gpu.bindingLimit, gpu.limits.maxBufferSize);
  for (const name of blocked) {
    const shape = paramShape(name), bytes = 4 * sizeOf(shape);
    // Pool buffers round up to a power of two.
    if (2 ** Math.ceil(Math.log2(bytes)) > gpu.limits.maxBufferSize) {
      throw new InputError(
        `${flag}: parameter "${name}" [${shape.join(", ")}] needs ${bytes.toLocaleString("en")} bytes, ` +
          `over this adapter's ${gpu.limits.maxBufferSize.toLocaleString("en")}-byte buffer limit`,
      );
    }
  }
  const largest = largestTensor(graph, paramShape, batch, blocked);
  if (largest.bytes > limit) {
    const what = largest.kind === "parameter" ? `parameter "${largest.name}"` : `"${largest.name}" at batch ${batch}`;
    throw new InputError(
      `${flag}: ${what} [${largest.shape.join(", ")}] needs ${largest.bytes.toLocaleString("en")} bytes, ` +
        `over this adapter's ${limit.toLocaleString("en")}-byte buffer limit`,
    );
  }
}
