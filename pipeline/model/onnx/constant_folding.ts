/**
 * Import-time folding: an ONNX node whose inputs are all import-time constants is evaluated on the
 * host instead of becoming graph nodes. This turns the shape arithmetic exporters write (Shape ->
 * Gather -> Unsqueeze -> Concat -> Reshape, Equal/Where around Expand, Range/Mod/ScatterND building
 * Swin's attention mask) and float constant chains (a position-bias table gathered and
 * transposed) into constants.
 *
 * A value computed from an activation's shape depends on the batch: the lowering keeps it at batch
 * 1 and at batch 2 (`Constant.second`), and a node reading one is evaluated at both. When both
 * results have one shape the node folds (keeping the batch-2 value where it differs); when the
 * shapes differ, an Expand (a class token broadcast to the batch) is left to its converter and
 * any other op is unsupported.
 *
 * @example
 * ```ts
 * import type { Lowering, OnnxNode } from "./lowering.ts";
 * declare const l: Lowering;
 * declare const n: OnnxNode;
 * if (!(await foldConstantNode(l, n))) {
 *   // convert n into graph nodes
 * }
 * ```
 */
import { InputError } from "../../io/input_error.ts";
import { sizeOf } from "../../io/size_of.ts";
import { type Lowering, type OnnxNode, Unsupported } from "./lowering.ts";
import { onnx } from "./proto.ts";
import type { ConstantTensor } from "./tensor_data.ts";

type Tensor = ConstantTensor;
type Folder = (l: Lowering, n: OnnxNode, inputs: (Tensor | undefined)[]) => Tensor[] | Promise<Tensor[]>;

const DataType = onnx.TensorProto.DataType;
/** ONNX's floating-point data types (a Cast to one of them keeps a float a float). */
export const FLOAT_TYPES: ReadonlySet<number> = new Set<number>([
  DataType.FLOAT,
  DataType.FLOAT16,
  DataType.BFLOAT16,
  DataType.DOUBLE,
]);

function tensor(shape: number[], values: ArrayLike<number>, integer: boolean): Tensor {
  return { shape, data: integer ? Float64Array.from(values) : Float32Array.from(values), integer };
}

/** Row-major strides of a shape. */
function stridesOf(shape: readonly number[]): number[] {
  const out = shape.map(() => 1);
  for (let a = shape.length - 2; a >= 0; a--) out[a] = out[a + 1] * shape[a + 1];
  return out;
}

/** An axis attribute or input normalised into [0, rank). */
export function normalizeAxis(axis: number, rank: number, what = "axis"): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) throw new Unsupported(`${what} ${axis} is outside rank ${rank}`);
  return a;
}

/** Numpy broadcasting of several shapes (aligned on the right). */
export function broadcastShapes(shapes: readonly (readonly number[])[]): number[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  return Array.from({ length: rank }, (_, j) => {
    const dims = shapes.map((s) => s[j - rank + s.length] ?? 1);
    const big = Math.max(...dims);
    if (dims.some((d) => d !== 1 && d !== big)) {
      throw new Unsupported(`shapes ${shapes.map((s) => `[${s}]`).join(", ")} do not broadcast`);
    }
    return big;
  });
}

/** The element of `t` that output element `index` of a broadcast to `shape` reads. */
function broadcastReader(t: Tensor, shape: readonly number[]): (index: number) => number {
  const aligned = [...new Array(shape.length - t.shape.length).fill(1), ...t.shape];
  const inStrides = stridesOf(aligned);
  const outStrides = stridesOf(shape);
  return (index) => {
    let at = 0;
    for (let a = 0; a < shape.length; a++) {
      const c = Math.floor(index / outStrides[a]) % shape[a];
      if (aligned[a] !== 1) at += c * inStrides[a];
    }
    return t.data[at];
  };
}

/** An elementwise op over broadcast inputs; the result is integer when `integer` says so. */
function elementwise(
  f: (...v: number[]) => number,
  integer: (inputs: Tensor[]) => boolean = (inputs) => inputs.every((t) => t.integer),
): Folder {
  return (_l, _n, inputs) => {
    const ts = inputs as Tensor[];
    const shape = broadcastShapes(ts.map((t) => t.shape));
    const readers = ts.map((t) => broadcastReader(t, shape));
    const values = Array.from({ length: sizeOf(shape) }, (_, i) => f(...readers.map((r) => r(i))));
    return [tensor(shape, values, integer(ts))];
  };
}

const isBool = () => true;

function divide(a: number, b: number, integer: boolean): number {
  if (!integer) return a / b;
  if (b === 0) throw new Unsupported("integer division by zero");
  return Math.trunc(a / b);
}

/** Per sliced axis: the first index, the count and the step, by ONNX's clamping rules. */
export interface SliceRange {
  axis: number;
  start: number;
  count: number;
  step: number;
}

/** ONNX Slice's ranges over `shape` (ends past the axis are clamped; negative indices count from the end). */
export function sliceRanges(
  shape: readonly number[],
  starts: readonly number[],
  ends: readonly number[],
  axes: readonly number[] | undefined,
  steps: readonly number[] | undefined,
): SliceRange[] {
  return starts.map((s, i) => {
    const axis = normalizeAxis(axes?.[i] ?? i, shape.length);
    const dim = shape[axis];
    const step = steps?.[i] ?? 1;
    if (step === 0) throw new Unsupported("a Slice step of 0");
    const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v < 0 ? v + dim : v, lo), hi);
    const [start, end] = step > 0
      ? [clamp(s, 0, dim), clamp(ends[i], 0, dim)]
      : [clamp(s, -1, dim - 1), clamp(ends[i], -1, dim - 1)];
    const count = Math.max(0, Math.ceil((end - start) / step));
    return { axis, start, count, step };
  });
}

/** Elements of `t` picked along axes by per-axis index lists (the rest kept). */
function pick(t: Tensor, lists: Map<number, number[]>): Tensor {
  const shape = t.shape.map((d, a) => lists.get(a)?.length ?? d);
  const inStrides = stridesOf(t.shape);
  const outStrides = stridesOf(shape);
  const values = Array.from({ length: sizeOf(shape) }, (_, i) => {
    let at = 0;
    for (let a = 0; a < shape.length; a++) {
      const c = Math.floor(i / outStrides[a]) % shape[a];
      at += (lists.get(a)?.[c] ?? c) * inStrides[a];
    }
    return t.data[at];
  });
  return tensor(shape, values, t.integer);
}

/** `t` transposed: output axis j is input axis perm[j]. */
export function transposeTensor(t: Tensor, perm: readonly number[]): Tensor {
  const shape = perm.map((p) => t.shape[p]);
  const inStrides = stridesOf(t.shape);
  const outStrides = stridesOf(shape);
  const values = Array.from({ length: sizeOf(shape) }, (_, i) => {
    let at = 0;
    perm.forEach((p, j) => (at += (Math.floor(i / outStrides[j]) % shape[j]) * inStrides[p]));
    return t.data[at];
  });
  return tensor(shape, values, t.integer);
}

/** ONNX Reshape's output shape: 0 copies the input's extent (unless allowzero), one -1 is inferred. */
export function reshapeTarget(input: readonly number[], target: readonly number[], allowZero: boolean): number[] {
  const dims = target.map((d, i) => (d === 0 && !allowZero ? input[i] : d));
  if (dims.some((d) => d === undefined || d < -1) || dims.filter((d) => d === -1).length > 1) {
    throw new Unsupported(`Reshape target [${target}] does not fit input [${input}]`);
  }
  const known = sizeOf(dims.filter((d) => d !== -1));
  const out = dims.map((d) => (d === -1 ? sizeOf(input) / known : d));
  if (out.some((d) => !Number.isInteger(d)) || sizeOf(out) !== sizeOf(input)) {
    throw new Unsupported(`cannot reshape [${input}] to [${target}]`);
  }
  return out;
}

/** Axes from an attribute (older opsets) or from the input at `index` (newer). */
function axesOf(n: OnnxNode, inputs: (Tensor | undefined)[], index: number, inputFrom: number, l: Lowering) {
  if (l.opset >= inputFrom) return inputs[index] ? Array.from(inputs[index]!.data) : undefined;
  return n.attrs.has("axes") ? n.attrs.ints("axes", []) : undefined;
}

/** The output shape of Unsqueeze over `shape`. */
export function unsqueezeShape(shape: readonly number[], axes: readonly number[]): number[] {
  const rank = shape.length + axes.length;
  const at = new Set(axes.map((a) => normalizeAxis(a, rank)));
  const rest = [...shape];
  return Array.from({ length: rank }, (_, j) => (at.has(j) ? 1 : rest.shift()!));
}

/** The output shape of Squeeze over `shape` (every extent-1 axis when `axes` is absent). */
export function squeezeShape(shape: readonly number[], axes: readonly number[] | undefined): number[] {
  const drop = new Set(
    axes ? axes.map((a) => normalizeAxis(a, shape.length)) : shape.flatMap((d, a) => (d === 1 ? [a] : [])),
  );
  for (const a of drop) if (shape[a] !== 1) throw new Unsupported(`Squeeze axis ${a} of [${shape}] is not 1`);
  return shape.filter((_, a) => !drop.has(a));
}

/** The output shape of Flatten at `axis`. */
export function flattenShape(shape: readonly number[], axis: number): number[] {
  const a = axis < 0 ? axis + shape.length : axis;
  return [sizeOf(shape.slice(0, a)), sizeOf(shape.slice(a))];
}

/** Split's sizes along `axis`: from the input, the attribute, or equal parts for `outputs` outputs. */
export function splitSizes(n: OnnxNode, extent: number, given: readonly number[] | undefined): number[] {
  const sizes = given ?? (n.attrs.has("split") ? n.attrs.ints("split", []) : undefined);
  if (sizes) return [...sizes];
  const parts = n.attrs.int("num_outputs", n.outputs.length);
  const size = Math.ceil(extent / parts);
  return Array.from({ length: parts }, (_, i) => Math.max(0, Math.min(size, extent - i * size)));
}

const reshape: Folder = (_l, n, [data, target]) => {
  const shape = reshapeTarget(data!.shape, Array.from(target!.data), n.attrs.int("allowzero", 0) === 1);
  return [{ ...data!, shape }];
};

const FOLDERS: Record<string, Folder> = {
  Identity: (_l, _n, [x]) => [x!],
  Shape(_l, n, [x]) {
    const rank = x!.shape.length;
    const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + rank : v, 0), rank);
    const dims = x!.shape.slice(clamp(n.attrs.int("start", 0)), clamp(n.attrs.int("end", rank)));
    return [tensor([dims.length], dims, true)];
  },
  Size: (_l, _n, [x]) => [tensor([], [sizeOf(x!.shape)], true)],
  Cast(_l, n, [x]) {
    const to = n.attrs.int("to", DataType.FLOAT);
    if (FLOAT_TYPES.has(to)) return [tensor(x!.shape, x!.data, false)];
    const values = Array.from(x!.data, (v) => (to === DataType.BOOL ? Number(v !== 0) : Math.trunc(v)));
    return [tensor(x!.shape, values, true)];
  },
  async ConstantOfShape(l, n, [shapeTensor]) {
    const shape = Array.from(shapeTensor!.data);
    const proto = n.attrs.tensor("value");
    const fill = proto ? await l.readTensor(proto, `ConstantOfShape "${n.name}" value`) : tensor([1], [0], false);
    return [tensor(shape, new Array(sizeOf(shape)).fill(fill.data[0]), fill.integer)];
  },
  Range(_l, _n, [start, limit, delta]) {
    const [s, e, d] = [start!.data[0], limit!.data[0], delta!.data[0]];
    const count = Math.max(Math.ceil((e - s) / d), 0);
    return [tensor([count], Array.from({ length: count }, (_, i) => s + i * d), start!.integer)];
  },
  Gather(_l, n, [data, indices]) {
    const axis = normalizeAxis(n.attrs.int("axis", 0), data!.shape.length);
    const dim = data!.shape[axis];
    const list = Array.from(indices!.data, (i) => (i < 0 ? i + dim : i));
    if (list.some((i) => i < 0 || i >= dim)) throw new Unsupported(`Gather index outside axis of extent ${dim}`);
    const picked = pick(data!, new Map([[axis, list]]));
    const shape = [...data!.shape.slice(0, axis), ...indices!.shape, ...data!.shape.slice(axis + 1)];
    return [{ ...picked, shape }];
  },
  Slice(l, n, inputs) {
    const [data] = inputs;
    const [starts, ends, axes, steps] = l.opset < 10
      ? [
        n.attrs.ints("starts", []),
        n.attrs.ints("ends", []),
        n.attrs.has("axes") ? n.attrs.ints("axes", []) : undefined,
        undefined,
      ]
      : inputs.slice(1).map((t) => (t ? Array.from(t.data) : undefined));
    const ranges = sliceRanges(data!.shape, starts!, ends!, axes, steps);
    return [
      pick(
        data!,
        new Map(ranges.map((r) => [r.axis, Array.from({ length: r.count }, (_, i) => r.start + i * r.step)])),
      ),
    ];
  },
  Concat(_l, n, inputs) {
    // Empty operands (exporters write [0]-shaped ones) add nothing.
    const all = inputs as Tensor[];
    const ts = all.some((t) => sizeOf(t.shape) > 0) ? all.filter((t) => sizeOf(t.shape) > 0) : all;
    const axis = normalizeAxis(n.attrs.int("axis", 0), ts[0].shape.length);
    const shape = [...ts[0].shape];
    shape[axis] = ts.reduce((sum, t) => sum + t.shape[axis], 0);
    const outer = sizeOf(shape.slice(0, axis));
    const values: number[] = [];
    for (let o = 0; o < outer; o++) {
      for (const t of ts) {
        const block = sizeOf(t.shape.slice(axis));
        for (let j = 0; j < block; j++) values.push(t.data[o * block + j]);
      }
    }
    return [tensor(shape, values, ts.every((t) => t.integer))];
  },
  Unsqueeze: (
    l,
    n,
    inputs,
  ) => [{ ...inputs[0]!, shape: unsqueezeShape(inputs[0]!.shape, axesOf(n, inputs, 1, 13, l) ?? []) }],
  Squeeze: (l, n, inputs) => [{ ...inputs[0]!, shape: squeezeShape(inputs[0]!.shape, axesOf(n, inputs, 1, 13, l)) }],
  Flatten: (_l, n, [x]) => [{ ...x!, shape: flattenShape(x!.shape, n.attrs.int("axis", 1)) }],
  Reshape: reshape,
  Transpose(_l, n, [x]) {
    const perm = n.attrs.ints("perm", x!.shape.map((_, i) => x!.shape.length - 1 - i));
    return [transposeTensor(x!, perm)];
  },
  Expand(_l, _n, [x, shape]) {
    const out = broadcastShapes([x!.shape, Array.from(shape!.data)]);
    const read = broadcastReader(x!, out);
    return [tensor(out, Array.from({ length: sizeOf(out) }, (_, i) => read(i)), x!.integer)];
  },
  Split(l, n, inputs) {
    const [x] = inputs;
    const axis = normalizeAxis(n.attrs.int("axis", 0), x!.shape.length);
    const sizes = splitSizes(n, x!.shape[axis], l.opset >= 13 && inputs[1] ? Array.from(inputs[1].data) : undefined);
    let at = 0;
    return sizes.map((size) => {
      const list = Array.from({ length: size }, (_, i) => at + i);
      at += size;
      return pick(x!, new Map([[axis, list]]));
    });
  },
  ScatterND(_l, n, [data, indices, updates]) {
    if (n.attrs.string("reduction", "none") !== "none") throw new Unsupported("ScatterND with a reduction");
    const out = Array.from(data!.data);
    const depth = indices!.shape.at(-1)!;
    const strides = stridesOf(data!.shape);
    const slice = sizeOf(data!.shape.slice(depth));
    const count = sizeOf(indices!.shape.slice(0, -1));
    for (let k = 0; k < count; k++) {
      let at = 0;
      for (let j = 0; j < depth; j++) {
        const i = indices!.data[k * depth + j];
        at += (i < 0 ? i + data!.shape[j] : i) * strides[j];
      }
      for (let e = 0; e < slice; e++) out[at + e] = updates!.data[k * slice + e];
    }
    return [tensor(data!.shape, out, data!.integer)];
  },
  Add: elementwise((a, b) => a + b),
  Sub: elementwise((a, b) => a - b),
  Mul: elementwise((a, b) => a * b),
  Div(l, n, inputs) {
    const integer = (inputs as Tensor[]).every((t) => t.integer);
    return elementwise((a, b) => divide(a, b, integer))(l, n, inputs);
  },
  Mod(l, n, inputs) {
    const fmod = n.attrs.int("fmod", 0) === 1;
    return elementwise((a, b) => (fmod ? a % b : a - Math.floor(a / b) * b))(l, n, inputs);
  },
  Pow: elementwise((a, b) => a ** b, ([base]) => base.integer),
  Neg: elementwise((a) => -a),
  Abs: elementwise(Math.abs),
  Sqrt: elementwise(Math.sqrt),
  Reciprocal: elementwise((a) => 1 / a),
  Exp: elementwise(Math.exp),
  Log: elementwise(Math.log),
  Floor: elementwise(Math.floor),
  Ceil: elementwise(Math.ceil),
  Min: elementwise(Math.min),
  Max: elementwise(Math.max),
  Equal: elementwise((a, b) => Number(a === b), isBool),
  Less: elementwise((a, b) => Number(a < b), isBool),
  LessOrEqual: elementwise((a, b) => Number(a <= b), isBool),
  Greater: elementwise((a, b) => Number(a > b), isBool),
  GreaterOrEqual: elementwise((a, b) => Number(a >= b), isBool),
  Not: elementwise((a) => Number(!a), isBool),
  And: elementwise((a, b) => Number(a && b), isBool),
  Or: elementwise((a, b) => Number(a || b), isBool),
  Where: elementwise((c, a, b) => (c ? a : b), ([, a, b]) => a.integer && b.integer),
};

/** Whether an op has a host evaluation (so a node of it whose inputs are constants folds). */
export function foldsAtImport(op: string): boolean {
  return op in FOLDERS;
}

/**
 * Evaluates `n` on the host when every input it has is a readable constant, recording its outputs
 * as constants; returns false (nothing recorded) when an input is computed or the result's shape
 * depends on the batch, so the node's converter takes it.
 */
export async function foldConstantNode(l: Lowering, n: OnnxNode): Promise<boolean> {
  const folder = FOLDERS[n.op];
  const present = n.inputs.filter(Boolean);
  if (!folder || present.length === 0) return false;
  if (present.some((name) => !l.values.has(name) || !l.isConstant(name))) return false;
  const worlds = n.inputs.map((name) => (name ? l.batchConstant(name, "input") : undefined));
  const evaluate = async (at: "tensor" | "second") => {
    try {
      return await folder(l, n, worlds.map((w) => w?.[at]));
    } catch (e) {
      if (e instanceof Unsupported || e instanceof InputError) throw e;
      throw new Unsupported(`cannot evaluate it on its constant inputs: ${(e as Error).message}`);
    }
  };
  const first = await evaluate("tensor");
  const dependsOnBatch = worlds.some((w) => w && w.second !== w.tensor);
  const second = dependsOnBatch ? await evaluate("second") : first;
  if (first.some((t, i) => t.shape.join() !== second[i].shape.join())) {
    // Only Expand's converter makes such a value (a constant broadcast along the batch).
    if (n.op === "Expand") return false;
    throw new Unsupported("its result's shape depends on the batch size");
  }
  n.outputs.forEach((name, i) => {
    if (!name || !first[i]) return;
    const differs = first[i].data.some((v, j) => v !== second[i].data[j]);
    l.set(name, { kind: "constant", tensor: first[i], ...(differs ? { second: second[i] } : {}) });
  });
  return true;
}
