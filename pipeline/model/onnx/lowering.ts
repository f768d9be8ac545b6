/**
 * The state of one ONNX-to-graph lowering: what every ONNX value has become (a graph value, a
 * constant, or a zero padding waiting for the conv that absorbs it), the graph nodes emitted so far
 * with their shapes, and the parameters they read.
 *
 * Shapes are tracked at batch 1 and checked by the graph's own shape rules as each node is emitted,
 * so an importer error names the node; they are also run at batch 2, which tells each value's
 * batch-dependent axis (graph_ops/movement.ts). Two shapes are kept per value because ONNX's
 * GlobalAveragePool keeps [N, C, 1, 1] where the graph's global_avg_pool gives [N, C].
 */
import type { GraphNode } from "../graph.ts";
import { InputError } from "../../io/input_error.ts";
import type { HostTensor } from "../model_files.ts";
import { outputShape } from "../shapes.ts";
import type { Attributes, TensorProto } from "./proto.ts";
import { type ConstantTensor, readTensor, type TensorOrigin } from "./tensor_data.ts";

/** A value computed by the graph. */
export interface Activation {
  kind: "activation";
  /** The graph value (node name or the graph input) that holds it. */
  name: string;
  /** Shape in the graph at batch 1. */
  shape: number[];
  /** Shape ONNX gives it at batch 1 (differs after GlobalAveragePool). */
  onnx: number[];
  /** A zero Pad not yet applied: [top, left, bottom, right]. */
  pad?: [number, number, number, number];
  /** Set when the value is the direct output of this graph node, so a constant Mul/Add may fold into it. */
  foldable?: GraphNode;
}

/**
 * A value known at import time (initializer, Constant node, a folded Shape chain), or why it cannot
 * be read (e.g. int8). `tensor` is its value when the graph runs at batch 1; a value computed from
 * an activation's shape also keeps `second`, its value at batch 2, where that differs (see
 * graph_ops/movement.ts on batch-dependent extents).
 */
export type Constant =
  | { kind: "constant"; tensor: ConstantTensor; second?: ConstantTensor }
  | { kind: "constant"; unreadable: string };

export type Value = Activation | Constant;

/** One ONNX node as a converter sees it. */
export interface OnnxNode {
  /** The node's name, or its first output's when it has none. */
  name: string;
  op: string;
  /** Input value names; "" marks an omitted optional input. */
  inputs: string[];
  outputs: string[];
  attrs: Attributes;
}

/** Thrown by a converter when a node uses something the graph cannot express. */
export class Unsupported extends Error {
  override name = "Unsupported";
}

/** Fields naming a node's parameters: `emit` fills them from the tensors it is given. */
export type ParamRole = "weight" | "bias" | "scale" | "shift" | "mean" | "variance" | "tensor" | "constant";

/** Parameter name suffixes; running statistics follow the trainer's `running_mean`/`running_var` convention. */
const PARAM_SUFFIX: Record<ParamRole, string> = {
  weight: "weight",
  bias: "bias",
  scale: "scale",
  shift: "shift",
  mean: "running_mean",
  variance: "running_var",
  tensor: "tensor", // a constant node's tensor (graph_ops/movement.ts)
  constant: "constant", // a binary node's constant operand (graph_ops/elementwise.ts)
};

/** Omit applied to each member of a union on its own (plain Omit would merge the members). */
type OmitEach<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** A node without name, inputs and parameter names, as converters describe what to emit. */
export type NodeSpec = OmitEach<GraphNode, "name" | "inputs" | ParamRole>;

export class Lowering {
  readonly values = new Map<string, Value>();
  readonly nodes: GraphNode[] = [];
  readonly weights = new Map<string, HostTensor>();
  readonly notes: string[] = [];
  readonly #names = new Set<string>();
  readonly #unsqueezed = new Map<string, Activation>();
  /** Every graph value's shape at batch 2 (`Activation.shape` is at batch 1). */
  readonly #atBatch2 = new Map<string, number[]>();
  /** Pending zero Pads made into pad nodes, by value and amounts. */
  readonly #padded = new Map<string, Activation>();

  constructor(
    readonly opset: number,
    /** How many nodes read each ONNX value (graph outputs count as readers). */
    readonly readers: Map<string, number>,
    /** The ONNX graph's output names. */
    readonly outputs: Set<string>,
    /** The batch size the file fixes on its input, if it fixes one (a Reshape may name it). */
    readonly fileBatch: number | null,
    /** Where tensors come from (for external data). */
    readonly origin: TensorOrigin,
    /** The graph input (the image batch; its axis 0 is the batch). */
    readonly image: Activation,
  ) {
    const input = image;
    this.#names.add(input.name);
    this.values.set(input.name, input);
    this.#atBatch2.set(input.name, [2, ...input.shape.slice(1)]);
  }

  /** A graph value's shape at batch 2: beside `shape` (batch 1), it tells which axis holds the batch. */
  shapeAtBatch2(v: Activation): number[] {
    return this.#atBatch2.get(v.name)!;
  }

  /** Reads a tensor held in the model (a Constant's value). */
  readTensor(t: TensorProto, what: string): Promise<ConstantTensor> {
    return readTensor(t, this.origin, what);
  }

  /** Whether an input names an import-time constant. */
  isConstant(name: string): boolean {
    return this.#get(name).kind === "constant";
  }

  /** Makes `onnxName` another name for the value `of` (Identity, Dropout, a dropped Softmax). */
  alias(onnxName: string, of: string): void {
    const v = this.#get(of);
    // An alias is no direct output of the producer: folding a constant through it could reach other readers.
    this.values.set(onnxName, v.kind === "activation" ? { ...v, foldable: undefined } : v);
  }

  /** The constant an input names; an activation there is unsupported (weights must be initializers). */
  constant(name: string, what: string): ConstantTensor {
    const v = this.#get(name);
    if (v.kind !== "constant") throw new Unsupported(`${what} "${name}" is computed, not a constant`);
    if ("unreadable" in v) throw new Unsupported(`${what} "${name}": ${v.unreadable}`);
    if (v.second) throw new Unsupported(`${what} "${name}" depends on the batch size`);
    return v.tensor;
  }

  /** A constant an input names at batch 1 and at batch 2 (the same tensor unless it depends on the batch). */
  batchConstant(name: string, what: string): { tensor: ConstantTensor; second: ConstantTensor } {
    const v = this.#get(name);
    if (v.kind !== "constant") throw new Unsupported(`${what} "${name}" is computed, not a constant`);
    if ("unreadable" in v) throw new Unsupported(`${what} "${name}": ${v.unreadable}`);
    return { tensor: v.tensor, second: v.second ?? v.tensor };
  }

  /** The constant an optional input names, or undefined when omitted. */
  optionalConstant(name: string | undefined, what: string): ConstantTensor | undefined {
    return name ? this.constant(name, what) : undefined;
  }

  /**
   * The activation an input names, in its ONNX shape. A pending zero Pad is refused unless the
   * caller absorbs it (`allowPad`).
   */
  activation(name: string, options: { allowPad?: boolean } = {}): Activation {
    const v = this.#get(name);
    if (v.kind !== "activation") throw new Unsupported(`input "${name}" is a constant; a computed value is expected`);
    if (v.pad && !options.allowPad) return this.#applyPad(v);
    if (v.shape.length === v.onnx.length) return v;
    let reshaped = this.#unsqueezed.get(v.name);
    if (!reshaped) {
      reshaped = this.emit({ op: "reshape", shape: v.onnx.slice(1) }, `${v.name}.unsqueezed`, [v]);
      this.#unsqueezed.set(v.name, reshaped);
    }
    return reshaped;
  }

  /** The activation an input names, in the graph's own shape (no reshape back to ONNX's rank). */
  flatActivation(name: string): Activation {
    const v = this.#get(name);
    if (v.kind !== "activation") throw new Unsupported(`input "${name}" is a constant; a computed value is expected`);
    return v.pad ? this.#applyPad(v) : v;
  }

  /** A pending zero Pad that no Conv absorbs, made into a pad node (once per value and amounts). */
  #applyPad(v: Activation): Activation {
    const [top, left, bottom, right] = v.pad!;
    const key = `${v.name} ${v.pad}`;
    let padded = this.#padded.get(key);
    if (!padded) {
      padded = this.emit({ op: "pad", pads: [0, 0, top, left, 0, 0, bottom, right], value: 0 }, `${v.name}.pad`, [v]);
      this.#padded.set(key, padded);
    }
    return padded;
  }

  /** Whether only one node (and no graph output) reads `name`. */
  soleReader(name: string): boolean {
    return (this.readers.get(name) ?? 0) === 1;
  }

  /**
   * Emits a graph node reading `inputs`, its parameters stored as `<node>.<suffix>` (the tensors
   * are taken, not copied); returns the activation it produces, its shape checked by the graph's
   * shape rules.
   */
  emit(
    spec: NodeSpec,
    baseName: string,
    inputs: Activation[],
    params: Partial<Record<ParamRole, HostTensor>> = {},
    onnxShape?: number[],
  ): Activation {
    const name = this.#unique(baseName);
    const paramNames: Record<string, string> = {};
    for (const [role, tensor] of Object.entries(params)) {
      paramNames[role] = `${name}.${PARAM_SUFFIX[role as ParamRole]}`;
      this.weights.set(paramNames[role], tensor);
    }
    const node = { ...spec, ...paramNames, name, inputs: inputs.map((v) => v.name) } as GraphNode;
    const paramShape = (p: string) => this.weights.get(p)!.shape;
    const shape = outputShape(node, inputs.map((v) => v.shape), paramShape);
    this.#atBatch2.set(name, outputShape(node, inputs.map((v) => this.shapeAtBatch2(v)), paramShape));
    this.nodes.push(node);
    return { kind: "activation", name, shape, onnx: onnxShape ?? shape, foldable: node };
  }

  /** Records what an ONNX value became. */
  set(onnxName: string, value: Value): void {
    this.values.set(onnxName, value);
  }

  /** The parameter a node reads under `role` (e.g. "weight"). */
  param(node: GraphNode, role: ParamRole): HostTensor | undefined {
    const name = (node as unknown as Record<string, string | undefined>)[role];
    return name ? this.weights.get(name) : undefined;
  }

  /** Adds a parameter to an emitted node (e.g. a bias a folded Add creates). */
  addParam(node: GraphNode, role: ParamRole, tensor: HostTensor): void {
    const name = `${node.name}.${PARAM_SUFFIX[role]}`;
    (node as unknown as Record<string, string>)[role] = name;
    this.weights.set(name, tensor);
  }

  #get(name: string): Value {
    const v = this.values.get(name);
    if (!v) throw new InputError(`reads "${name}", which no earlier node or initializer defines`);
    return v;
  }

  #unique(base: string): string {
    let name = base || "node";
    for (let i = 2; this.#names.has(name); i++) name = `${base}_${i}`;
    this.#names.add(name);
    return name;
  }
}
