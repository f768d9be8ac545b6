/**
 * ONNX import: an ONNX model (opsets 7 to 18; 11 to 18 are what current exporters write) becomes
 * the project's graph and weights. The image input's first axis is the batch, whatever the file
 * fixes it to; the rest is [C, H, W], from the file or, where the file leaves it symbolic, from
 * `options.input`. Every node the graph cannot express is collected, and all of them are named in
 * one InputError.
 *
 * @example
 * ```ts
 * const bytes = await Deno.readFile("net.onnx");
 * const imported = await importOnnx(bytes, { source: "net.onnx", folder: "." });
 * console.log(imported.graph.nodes.length, imported.classes, imported.notes);
 * ```
 */
import { type Graph, parseGraph } from "../graph.ts";
import { describeNonFinite, firstNonFinite } from "../../io/finite.ts";
import { InputError } from "../../io/input_error.ts";
import type { HostTensor } from "../model_files.ts";
import { type Activation, Lowering, type OnnxNode, Unsupported } from "./lowering.ts";
import { CONVERTERS } from "./ops.ts";
import { foldConstantNode, foldsAtImport } from "./constant_folding.ts";
import { Attributes, decodeModel, int, type NodeProto, onnx, type ValueInfoProto } from "./proto.ts";
import { type ConstantTensor, readTensor, unreadableType } from "./tensor_data.ts";

/** Oldest and newest default-domain opset accepted. */
export const OPSET_RANGE = [7, 18] as const;

export interface ImportOptions {
  /** The file's name, for messages. */
  source: string;
  /** The folder external data must stay inside. */
  folder: string;
  /** [C, H, W] of the input, required where the file leaves those dims symbolic. */
  input?: [number, number, number];
}

export interface OnnxImport {
  graph: Graph;
  weights: Map<string, HostTensor>;
  /** [C, H, W] of one input image. */
  input: [number, number, number];
  /** Width of the output (the logits). */
  classes: number;
  opset: number;
  /** Producer name and version as the file records them. */
  producer: string;
  /** What the import changed that a user should know (dropped softmax, constants turned into nodes). */
  notes: string[];
}

/**
 * Lowers an ONNX model onto the graph. Throws an InputError naming `options.source` for a
 * truncated or invalid file, and one listing every unsupported node by name and op.
 *
 * @example
 * ```ts
 * declare const bytes: Uint8Array;
 * const { graph, weights } = await importOnnx(bytes, { source: "net.onnx", folder: ".", input: [3, 64, 64] });
 * ```
 */
export async function importOnnx(bytes: Uint8Array, options: ImportOptions): Promise<OnnxImport> {
  const { source } = options;
  const model = decodeModel(bytes, source);
  const opset = defaultOpset(model.opsetImport ?? [], source);
  const g = model.graph!;
  const initializers = g.initializer ?? [];
  const initializerNames = new Set(initializers.map((t) => t.name ?? ""));
  const inputs = (g.input ?? []).filter((v) => !initializerNames.has(v.name ?? ""));
  if (inputs.length !== 1) {
    throw new InputError(
      `${source}: the model has ${inputs.length} inputs (${
        inputs.map((v) => v.name).join(", ")
      }); one image input is supported`,
    );
  }
  const outputs = (g.output ?? []).map((v) => v.name ?? "");
  if (outputs.length !== 1) {
    throw new InputError(`${source}: the model has ${outputs.length} outputs; one is supported`);
  }
  const { chw, batch } = inputShape(inputs[0], options.input, source);
  const inputName = inputs[0].name!;
  const readers = new Map<string, number>();
  for (const name of [...(g.node ?? []).flatMap((n) => n.input ?? []), ...outputs]) {
    if (name) readers.set(name, (readers.get(name) ?? 0) + 1);
  }
  const image: Activation = { kind: "activation", name: inputName, shape: [1, ...chw], onnx: [1, ...chw] };
  const l = new Lowering(opset, readers, new Set(outputs), batch, options, image);
  for (const t of initializers) {
    // An unreadable type fails only the nodes that read it, so every unsupported node is still listed.
    const unreadable = unreadableType(t);
    l.set(
      t.name ?? "",
      unreadable
        ? { kind: "constant", unreadable: `data type ${unreadable} is not supported` }
        : { kind: "constant", tensor: finite(await readTensor(t, options, `initializer "${t.name}"`), t.name, source) },
    );
  }
  await lowerNodes(l, g.node ?? [], source);
  const out = outputActivation(l, outputs[0], inputName, source);
  const graph = parseGraph({
    format: "convnet-graph",
    version: 1,
    input: { name: inputName, shape: chw },
    nodes: l.nodes,
    output: out.name,
  }, source);
  return {
    graph,
    weights: l.weights,
    input: chw,
    classes: out.shape[1],
    opset,
    producer: [model.producerName, model.producerVersion].filter(Boolean).join(" "),
    notes: l.notes,
  };
}

/** An initializer as read, refused by its own name when it holds a NaN or infinity. */
function finite(tensor: ConstantTensor, name: string | null | undefined, source: string): ConstantTensor {
  const at = firstNonFinite(tensor.data);
  if (at >= 0) {
    throw new InputError(
      `${source}: initializer "${name}" holds ${
        describeNonFinite(tensor.data, tensor.shape, at)
      }; weights must be finite`,
    );
  }
  return tensor;
}

function defaultOpset(imports: { domain?: string | null; version?: unknown }[], source: string): number {
  const entry = imports.find((o) => !o.domain || o.domain === "ai.onnx");
  if (!entry) throw new InputError(`${source}: the model imports no default-domain opset`);
  const version = int(entry.version as number, `${source}: opset version`);
  const [oldest, newest] = OPSET_RANGE;
  if (version < oldest || version > newest) {
    throw new InputError(`${source}: opset ${version} is not supported (${oldest} to ${newest})`);
  }
  return version;
}

/** [C, H, W] of the image input, and the batch size when the file fixes one. */
function inputShape(
  v: ValueInfoProto,
  given: [number, number, number] | undefined,
  source: string,
): { chw: [number, number, number]; batch: number | null } {
  const tensor = v.type?.tensorType;
  if (!tensor) throw new InputError(`${source}: input "${v.name}" is not a tensor`);
  if (tensor.elemType !== onnx.TensorProto.DataType.FLOAT) {
    throw new InputError(`${source}: input "${v.name}" must be float32 (elem_type 1), got ${tensor.elemType}`);
  }
  const dims = (tensor.shape?.dim ?? []).map((d) => (d.dimParam ? null : int(d.dimValue, source) || null));
  if (tensor.shape && dims.length !== 4) {
    throw new InputError(`${source}: input "${v.name}" has ${dims.length} dims; an NCHW image input has 4`);
  }
  const declared = tensor.shape ? dims.slice(1) : [null, null, null];
  const describe = `[N, ${declared.map((d) => d ?? "?").join(", ")}]`;
  if (given) {
    if (declared.some((d, i) => d !== null && d !== given[i])) {
      throw new InputError(`${source}: the file's input ${describe} disagrees with the sidecar's input [${given}]`);
    }
    return { chw: given, batch: dims[0] ?? null };
  }
  if (declared.some((d) => d === null)) {
    throw new InputError(`${source}: input "${v.name}" is ${describe}; give "input": [C, H, W] in the sidecar JSON`);
  }
  return { chw: declared as [number, number, number], batch: dims[0] ?? null };
}

/** Converts every node, collecting each unsupported one instead of stopping at the first. */
async function lowerNodes(l: Lowering, protos: NodeProto[], source: string): Promise<void> {
  const problems: string[] = [];
  const failed = new Set<string>();
  for (const proto of protos) {
    const n: OnnxNode = {
      name: proto.name || proto.output?.[0] || proto.opType || "?",
      op: proto.opType ?? "",
      inputs: proto.input ?? [],
      outputs: proto.output ?? [],
      attrs: new Attributes(proto),
    };
    // Shape arithmetic and constant chains are evaluated here rather than converted.
    if (!n.inputs.some((i) => failed.has(i))) {
      try {
        if (await foldConstantNode(l, n)) continue;
      } catch (e) {
        if (!(e instanceof Unsupported)) throw e;
        problems.push(`"${n.name}" (${n.op}: ${e.message})`);
        n.outputs.forEach((o) => failed.add(o));
        continue;
      }
    }
    const problem = staticProblem(n, proto.domain ?? "");
    if (problem !== undefined) {
      problems.push(`"${n.name}" (${n.op}${problem ? `: ${problem}` : ""})`);
      n.outputs.forEach((o) => failed.add(o));
      continue;
    }
    // Below an unsupported node the shapes are unknown; that node is already listed.
    if (n.inputs.some((i) => failed.has(i))) {
      n.outputs.forEach((o) => failed.add(o));
      continue;
    }
    try {
      const converter = CONVERTERS[n.op];
      if (!converter) throw new Unsupported("it reads a computed value; it is only evaluated on constants");
      await converter.convert(l, n);
    } catch (e) {
      if (!(e instanceof Unsupported)) {
        if (e instanceof InputError) throw new InputError(`${source}: node "${n.name}" (${n.op}): ${e.message}`);
        throw e;
      }
      problems.push(`"${n.name}" (${n.op}: ${e.message})`);
      n.outputs.forEach((o) => failed.add(o));
    }
  }
  if (problems.length > 0) {
    throw new InputError(`${source}: ${problems.length} unsupported ONNX node(s): ${problems.join(", ")}`);
  }
}

/** Why a node cannot be converted, judging by op, domain and attributes only ("" for an unknown op). */
function staticProblem(n: OnnxNode, domain: string): string | undefined {
  const converter = CONVERTERS[n.op];
  if (domain && domain !== "ai.onnx") return `domain ${domain}`;
  // An op without a converter may still fold at import (constant_folding.ts), once its inputs are known.
  if (!converter) return foldsAtImport(n.op) ? undefined : "";
  const unknown = n.attrs.unknown(converter.attributes);
  if (unknown.length > 0) return `attribute ${unknown.join(", ")}`;
  try {
    return converter.check?.(n);
  } catch (e) {
    if (e instanceof InputError) return e.message;
    throw e;
  }
}

/** The logits: the output value as [N, classes]. */
function outputActivation(l: Lowering, name: string, inputName: string, source: string): Activation {
  const v = l.values.get(name);
  if (!v || v.kind !== "activation" || v.name === inputName || v.pad) {
    throw new InputError(`${source}: output "${name}" is not computed from the input by the model's nodes`);
  }
  if (v.shape.length === 4 && v.shape[2] * v.shape[3] === 1) {
    return l.emit({ op: "flatten" }, `${v.name}.flat`, [v]);
  }
  if (v.shape.length !== 2) {
    throw new InputError(`${source}: output "${name}" is [N, ${v.shape.slice(1)}], not [N, classes]`);
  }
  return v;
}
