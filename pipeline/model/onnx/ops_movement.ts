/**
 * ONNX movement ops lowered onto the graph's movement nodes (graph_ops/movement.ts), for values of
 * any rank: Transpose, Reshape, Flatten, Squeeze, Unsqueeze, Slice, Split, Gather (constant
 * indices), Expand, Concat (any axis, constant operands), Pad, Shape, Size, Cast (float to float).
 * A node whose inputs are all constants folds at import instead
 * (constant_folding.ts); what reaches these converters reads at least one activation, or is an
 * expand of a constant to a batch-dependent shape.
 *
 * Batch-dependent extents: each activation's shape is known at batch 1 (`shape`) and batch 2
 * (`Lowering.shapeAtBatch2`), and each converter computes its output at both; the one axis where
 * they differ is the output's batch axis, written as graph_ops/movement.ts describes. A target the
 * exporter baked at the file's fixed batch is read at that batch (`atFileBatch`).
 */
import { sizeOf } from "../../io/size_of.ts";
import type { HostTensor } from "../model_files.ts";
import {
  broadcastShapes,
  flattenShape,
  FLOAT_TYPES,
  normalizeAxis,
  reshapeTarget,
  type SliceRange,
  sliceRanges,
  splitSizes,
  squeezeShape,
  unsqueezeShape,
} from "./constant_folding.ts";
import { type Activation, type Lowering, type OnnxNode, Unsupported } from "./lowering.ts";
import type { Converter } from "./ops.ts";
import { onnx } from "./proto.ts";
import type { ConstantTensor } from "./tensor_data.ts";

/** An activation's ONNX shape at batch 1 and at batch 2, and the axis that holds the batch. */
interface Shapes {
  one: number[];
  two: number[];
  batchAxis: number;
}

function fmt(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

/** The one axis where two shapes differ, as a value at batch 1 and 2 (its extent must double). */
function batchAxisOf(one: readonly number[], two: readonly number[]): number {
  const axes = one.flatMap((d, a) => (d !== two[a] ? [a] : []));
  if (axes.length !== 1 || two[axes[0]] !== 2 * one[axes[0]]) {
    throw new Unsupported(`the batch would not sit in one axis: ${fmt(one)} at batch 1, ${fmt(two)} at batch 2`);
  }
  return axes[0];
}

function shapesOf(l: Lowering, x: Activation): Shapes {
  // A value whose graph shape is flatter than ONNX's (GlobalAveragePool's [N, C]) has its batch on axis 0.
  const two = x.onnx.length === x.shape.length ? l.shapeAtBatch2(x) : [2 * x.onnx[0], ...x.onnx.slice(1)];
  return { one: x.onnx, two, batchAxis: batchAxisOf(x.onnx, two) };
}

/** `shape` (at batch 1) with its batch axis at batch `batch`. */
function atBatch(s: Shapes, batch: number): number[] {
  return s.one.map((d, a) => (a === s.batchAxis ? d * batch : d));
}

const intsOf = (t: ConstantTensor | undefined) => (t ? Array.from(t.data) : undefined);

/** A constant input at batch 1 and 2; `baked` when it is one value the exporter fixed at the file's batch. */
function target(l: Lowering, name: string, what: string) {
  const { tensor, second } = l.batchConstant(name, what);
  if (!tensor.integer || tensor.shape.length !== 1) {
    throw new Unsupported(`${what} [${tensor.shape}] is not a 1-D integer tensor`);
  }
  return {
    one: Array.from(tensor.data),
    two: Array.from(second.data),
    baked: tensor === second && l.fileBatch !== null,
  };
}

/**
 * Where a target baked at the file's batch F puts the batch: an output axis j whose leading-element
 * count spans the input's batch block, for the batch at the outside of the input's batch axis (an
 * image's windows after it, m = 1) or further in (m > 1 of its k entries before it, as an attention's
 * [L * B] rows have); see graph_ops/movement.ts. Ties go to the outermost placement and to the axis
 * that starts where the batch starts.
 */
function bakedBatchAxis(input: Shapes, outAtF: readonly number[], f: number): number {
  const before = sizeOf(input.one.slice(0, input.batchAxis));
  const k = input.one[input.batchAxis];
  for (let m = 1; m <= k; m++) {
    if (k % m !== 0) continue;
    const start = before * m;
    const spans = outAtF.flatMap((d, j) => {
      const lead = sizeOf(outAtF.slice(0, j));
      const through = lead * d;
      const fits = lead <= start && through >= start * f && start % lead === 0 && through % (start * f) === 0;
      return fits ? [{ j, starts: lead === start }] : [];
    });
    const chosen = spans.find((s) => s.starts) ?? spans[0];
    if (chosen) return chosen.j;
  }
  throw new Unsupported(`cannot tell where the batch goes in ${fmt(outAtF)} (baked at batch ${f})`);
}

/** Records `x` under the ONNX shapes `one` (batch 1) and `two` (batch 2): no node when the graph value already has them. */
function viewAs(l: Lowering, n: OnnxNode, x: Activation, one: number[], two: number[], output = n.outputs[0]): void {
  const j = batchAxisOf(one, two);
  const graphTwo = l.shapeAtBatch2(x);
  if (one.join() === x.shape.join() && two.join() === graphTwo.join()) {
    return l.set(output, { ...x, onnx: one, foldable: undefined });
  }
  const flatBatch = j === 0 && one[0] === 1 && x.shape[0] === 1 && graphTwo[0] === 2;
  const spec = flatBatch
    ? one.length === 2 ? { op: "flatten" as const } : { op: "reshape" as const, shape: one.slice(1) }
    : { op: "view" as const, shape: one.map((d, a) => (a === j ? -d : d)) };
  l.set(output, l.emit(spec, n.name, [x]));
}

const reshape: Converter = {
  attributes: ["allowzero"],
  convert(l, n) {
    const x = l.flatActivation(n.inputs[0]);
    const s = shapesOf(l, x);
    const t = target(l, n.inputs[1], "shape");
    const allowZero = n.attrs.int("allowzero", 0) === 1;
    if (!t.baked) {
      return viewAs(l, n, x, reshapeTarget(s.one, t.one, allowZero), reshapeTarget(s.two, t.two, allowZero));
    }
    const f = l.fileBatch!;
    const outAtF = reshapeTarget(atBatch(s, f), t.one, allowZero);
    const j = bakedBatchAxis(s, outAtF, f);
    const one = outAtF.map((d, a) => (a === j ? d / f : d));
    viewAs(l, n, x, one, one.map((d, a) => (a === j ? 2 * d : d)));
  },
};

/** A converter whose output shape is a function of the input's shape alone (Flatten, Squeeze, Unsqueeze). */
function shapeOnly(
  attributes: string[],
  rule: (l: Lowering, n: OnnxNode, shape: number[], s: Shapes) => number[],
): Converter {
  return {
    attributes,
    convert(l, n) {
      const x = l.flatActivation(n.inputs[0]);
      const s = shapesOf(l, x);
      viewAs(l, n, x, rule(l, n, s.one, s), rule(l, n, s.two, s));
    },
  };
}

/** Squeeze's and Unsqueeze's axes: an attribute before opset 13, an input from it. */
function axesArgument(l: Lowering, n: OnnxNode): number[] | undefined {
  if (l.opset < 13) return n.attrs.has("axes") ? n.attrs.ints("axes", []) : undefined;
  return intsOf(l.optionalConstant(n.inputs[1], "axes"));
}

const transpose: Converter = {
  attributes: ["perm"],
  convert(l, n) {
    const x = l.activation(n.inputs[0]);
    const rank = x.onnx.length;
    const perm = n.attrs.ints("perm", x.onnx.map((_, i) => rank - 1 - i)).map((p) =>
      normalizeAxis(p, rank, "perm entry")
    );
    if (perm.every((p, i) => p === i)) return l.alias(n.outputs[0], n.inputs[0]);
    l.set(n.outputs[0], l.emit({ op: "permute", perm }, n.name, [x]));
  },
};

/** Emits a slice of `x` over `ranges` (full ranges dropped), or aliases it when nothing is cut. */
function emitSlice(l: Lowering, name: string, x: Activation, ranges: SliceRange[]): Activation {
  const cut = ranges.filter((r) => !(r.start === 0 && r.step === 1 && r.count === x.onnx[r.axis]));
  if (cut.some((r) => r.count === 0)) throw new Unsupported("the slice is empty");
  if (cut.length === 0) return { ...x, foldable: undefined };
  const s = shapesOf(l, x);
  if (cut.some((r) => r.axis === s.batchAxis)) throw new Unsupported(`it slices the batch axis ${s.batchAxis}`);
  return l.emit(
    {
      op: "slice",
      axes: cut.map((r) => r.axis),
      starts: cut.map((r) => r.start),
      counts: cut.map((r) => r.count),
      steps: cut.map((r) => r.step),
    },
    name,
    [x],
  );
}

const slice: Converter = {
  attributes: ["starts", "ends", "axes"],
  convert(l, n) {
    const x = l.activation(n.inputs[0]);
    const s = shapesOf(l, x);
    const read = (i: number, what: string) => (n.inputs[i] ? target(l, n.inputs[i], what) : undefined);
    const [starts, ends, axes, steps] = l.opset < 10
      ? ["starts", "ends", "axes"].map((a) => {
        const v = n.attrs.has(a) ? n.attrs.ints(a, []) : undefined;
        return v && { one: v, two: v, baked: l.fileBatch !== null };
      }).concat([undefined])
      : [read(1, "starts"), read(2, "ends"), read(3, "axes"), read(4, "steps")];
    const at = (shape: number[], world: "one" | "two") =>
      sliceRanges(shape, starts![world], ends![world], axes?.[world], steps?.[world]);
    // A baked end on the batch axis was the file's batch: read the slice there.
    const ranges = starts!.baked || ends!.baked ? at(atBatch(s, l.fileBatch!), "one") : at(s.one, "one");
    const full = (r: SliceRange, dim: number) => r.start === 0 && r.step === 1 && r.count === dim;
    const batchRange = ranges.find((r) => r.axis === s.batchAxis);
    if (
      batchRange &&
      !full(batchRange, starts!.baked || ends!.baked ? atBatch(s, l.fileBatch!)[s.batchAxis] : s.one[s.batchAxis])
    ) {
      throw new Unsupported(`it slices the batch axis ${s.batchAxis}`);
    }
    const second = at(s.two, "two").filter((r) => r.axis !== s.batchAxis);
    const kept = ranges.filter((r) => r.axis !== s.batchAxis);
    if (JSON.stringify(kept) !== JSON.stringify(second)) throw new Unsupported("the slice depends on the batch size");
    l.set(n.outputs[0], emitSlice(l, n.name, x, kept));
  },
};

const split: Converter = {
  attributes: ["axis", "split", "num_outputs"],
  convert(l, n) {
    const x = l.activation(n.inputs[0]);
    const axis = normalizeAxis(n.attrs.int("axis", 0), x.onnx.length);
    const given = l.opset >= 13 ? intsOf(l.optionalConstant(n.inputs[1], "split")) : undefined;
    const sizes = splitSizes(n, x.onnx[axis], given);
    let start = 0;
    n.outputs.forEach((output, i) => {
      const count = sizes[i];
      if (output && (l.readers.get(output) ?? 0) > 0) {
        l.set(output, emitSlice(l, `${n.name}.${i}`, x, [{ axis, start, count, step: 1 }]));
      }
      start += count;
    });
  },
};

const gather: Converter = {
  attributes: ["axis"],
  convert(l, n) {
    const x = l.activation(n.inputs[0]);
    const s = shapesOf(l, x);
    const axis = normalizeAxis(n.attrs.int("axis", 0), x.onnx.length);
    if (axis === s.batchAxis) throw new Unsupported(`it gathers along the batch axis ${axis}`);
    const indices = l.constant(n.inputs[1], "indices");
    const dim = x.onnx[axis];
    const list = Array.from(indices.data, (i) => (i < 0 ? i + dim : i));
    if (list.some((i) => i < 0 || i >= dim)) throw new Unsupported(`an index is outside axis ${axis} of extent ${dim}`);
    const step = list.length > 1 ? list[1] - list[0] : 1;
    const progression = step !== 0 && list.every((v, k) => v === list[0] + k * step);
    const picked = progression
      ? emitSlice(l, `${n.name}.pick`, x, [{ axis, start: list[0], count: list.length, step }])
      : l.emit(
        { op: "concat", axis },
        `${n.name}.pick`,
        list.map((v, k) => emitSlice(l, `${n.name}.${k}`, x, [{ axis, start: v, count: 1, step: 1 }])),
      );
    const reshaped = (shape: number[]) => [...shape.slice(0, axis), ...indices.shape, ...shape.slice(axis + 1)];
    viewAs(l, n, picked, reshaped(s.one), reshaped(s.two));
  },
};

/** A host tensor from a float constant. */
function floats(t: ConstantTensor, what: string): HostTensor {
  if (t.integer) throw new Unsupported(`${what} holds integers, not floats`);
  return { shape: [...t.shape], data: Float32Array.from(t.data) };
}

/** A `constant` node: `t` broadcast to `one` (at batch 1), its batch axis `axis` (k times the batch). */
function emitConstant(l: Lowering, name: string, t: HostTensor, one: number[], axis: number): Activation {
  const shape = one.map((d, a) => (a === axis ? -d : d));
  return l.emit({ op: "constant", shape }, name, [l.image], { tensor: t });
}

const expand: Converter = {
  attributes: [],
  convert(l, n) {
    const t = target(l, n.inputs[1], "shape");
    if (l.isConstant(n.inputs[0])) {
      // Folding left it: its shape depends on the batch (a class token expanded to [B, 1, D]).
      const c = l.constant(n.inputs[0], "input");
      const one = broadcastShapes([c.shape, t.one]);
      const axis = batchAxisOf(one, broadcastShapes([c.shape, t.two]));
      return l.set(n.outputs[0], emitConstant(l, n.name, floats(c, "input"), one, axis));
    }
    const x = l.activation(n.inputs[0]);
    const s = shapesOf(l, x);
    const rank = Math.max(x.onnx.length, t.one.length);
    const j = s.batchAxis + rank - x.onnx.length;
    const aligned = [...new Array(rank - t.one.length).fill(1), ...t.one];
    const one = broadcastShapes([s.one, aligned.map((d, a) => (a === j ? 1 : d))]);
    if (!t.baked && broadcastShapes([s.two, t.two]).join() !== one.map((d, a) => (a === j ? 2 * d : d)).join()) {
      throw new Unsupported(`expanding ${fmt(s.one)} to ${fmt(t.one)} spreads the batch over another axis`);
    }
    const shape = one.map((d, a) => (a === j ? 1 : d));
    if (shape.join() === s.one.map((d, a) => (a === s.batchAxis ? 1 : d)).join()) {
      return l.alias(n.outputs[0], n.inputs[0]);
    }
    l.set(n.outputs[0], l.emit({ op: "expand", shape }, n.name, [x]));
  },
};

/**
 * A constant concatenated with activations, as a `constant` node broadcast along their batch axis
 * `axis` (extent k at batch 1). At a fixed file batch F the constant holds F identical blocks there.
 */
function constantOperand(l: Lowering, name: string, c: ConstantTensor, axis: number, k: number): Activation {
  const copies = c.shape[axis] / k;
  if (!Number.isInteger(copies) || (copies !== 1 && copies !== l.fileBatch)) {
    throw new Unsupported(
      `constant operand [${c.shape}] does not match the batch axis ${axis} (extent ${k} per image)`,
    );
  }
  const block = sizeOf(c.shape.slice(axis)) / copies;
  const outer = sizeOf(c.shape.slice(0, axis));
  const data = new Float32Array(outer * block);
  for (let o = 0; o < outer; o++) {
    for (let e = 0; e < block; e++) {
      data[o * block + e] = c.data[o * block * copies + e];
      for (let r = 1; r < copies; r++) {
        if (c.data[(o * copies + r) * block + e] !== data[o * block + e]) {
          throw new Unsupported(`constant operand [${c.shape}] differs between the images of the batch`);
        }
      }
    }
  }
  const one = c.shape.map((d, a) => (a === axis ? k : d));
  if (c.integer) throw new Unsupported(`constant operand [${c.shape}] holds integers`);
  return emitConstant(l, name, { shape: one, data }, one, axis);
}

const concat: Converter = {
  attributes: ["axis"],
  convert(l, n) {
    const names = n.inputs.filter(Boolean);
    const first = names.find((name) => !l.isConstant(name));
    if (!first) throw new Unsupported("every operand is a constant whose shape depends on the batch");
    const x = l.activation(first);
    const s = shapesOf(l, x);
    const axis = normalizeAxis(n.attrs.int("axis", 1), x.onnx.length);
    if (axis === s.batchAxis) throw new Unsupported(`it joins along the batch axis ${axis}`);
    const inputs = names.map((name, i) => {
      if (!l.isConstant(name)) return l.activation(name);
      const c = l.constant(name, "operand");
      return constantOperand(l, `${n.name}.operand${i}`, c, s.batchAxis, s.one[s.batchAxis]);
    });
    if (inputs.length === 1) return l.set(n.outputs[0], { ...inputs[0], foldable: undefined });
    l.set(n.outputs[0], l.emit({ op: "concat", axis }, n.name, inputs));
  },
};

const pad: Converter = {
  attributes: ["mode", "pads", "value"],
  check(n) {
    const mode = n.attrs.string("mode", "constant");
    return mode === "constant" ? undefined : `mode=${mode}`;
  },
  convert(l, n) {
    const x = l.activation(n.inputs[0], { allowPad: true });
    const rank = x.onnx.length;
    let pads = l.opset < 11 ? n.attrs.ints("pads", []) : Array.from(l.constant(n.inputs[1], "pads").data);
    const value = l.opset < 11
      ? n.attrs.float("value", 0)
      : l.optionalConstant(n.inputs[2], "constant_value")?.data[0] ?? 0;
    const axes = intsOf(l.optionalConstant(n.inputs[3], "axes"));
    if (axes) {
      const full = new Array(2 * rank).fill(0);
      axes.forEach((a, i) => {
        const axis = normalizeAxis(a, rank);
        full[axis] = pads[i];
        full[axis + rank] = pads[i + axes.length];
      });
      pads = full;
    }
    if (pads.length !== 2 * rank) throw new Unsupported(`pads [${pads}] do not match rank ${rank}`);
    // Exporters write all-zero Pads before pools (DenseNet's transitions): nothing to do.
    if (pads.every((p) => p === 0)) return l.alias(n.outputs[0], n.inputs[0]);
    const spatialZero = value === 0 && rank === 4 && pads.every((p, i) => p >= 0 && (i % 4 >= 2 || p === 0));
    if (spatialZero) {
      // A zero Pad of height and width waits for the Conv (or count-including AveragePool) that absorbs it.
      const [top, left, bottom, right] = [pads[2], pads[3], pads[6], pads[7]];
      const before = x.pad ?? [0, 0, 0, 0];
      const [batch, c, h, w] = x.onnx;
      return l.set(n.outputs[0], {
        ...x,
        foldable: undefined,
        pad: [before[0] + top, before[1] + left, before[2] + bottom, before[3] + right],
        onnx: [batch, c, h + top + bottom, w + left + right],
      });
    }
    const input = l.activation(n.inputs[0]);
    const s = shapesOf(l, input);
    if (pads[s.batchAxis] !== 0 || pads[s.batchAxis + rank] !== 0) throw new Unsupported("it pads the batch axis");
    l.set(n.outputs[0], l.emit({ op: "pad", pads, value }, n.name, [input]));
  },
};

/** Shape of an activation: a constant at batch 1, with its batch-2 value beside it. */
const shape: Converter = {
  attributes: ["start", "end"],
  convert(l, n) {
    const s = shapesOf(l, l.flatActivation(n.inputs[0]));
    const rank = s.one.length;
    const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + rank : v, 0), rank);
    const [from, to] = [clamp(n.attrs.int("start", 0)), clamp(n.attrs.int("end", rank))];
    const of = (dims: number[]) => ({
      shape: [to - from],
      data: Float64Array.from(dims.slice(from, to)),
      integer: true,
    });
    l.set(n.outputs[0], { kind: "constant", tensor: of(s.one), second: of(s.two) });
  },
};

/** The movement converters, for ops.ts's table. */
export const MOVEMENT_CONVERTERS: Record<string, Converter> = {
  Transpose: transpose,
  Reshape: reshape,
  Flatten: shapeOnly(["axis"], (_l, n, s) => flattenShape(s, n.attrs.int("axis", 1))),
  // Without axes, Squeeze drops the extent-1 axes other than the batch's (which is 1 at batch 1).
  Squeeze: shapeOnly(
    ["axes"],
    (l, n, shape, s) => squeezeShape(shape, axesArgument(l, n) ?? s.two.flatMap((d, a) => (d === 1 ? [a] : []))),
  ),
  Unsqueeze: shapeOnly(["axes"], (l, n, s) => unsqueezeShape(s, axesArgument(l, n) ?? [])),
  Slice: slice,
  Split: split,
  Gather: gather,
  Expand: expand,
  Concat: concat,
  Pad: pad,
  Shape: shape,
  Size: {
    attributes: [],
    convert(l, n) {
      const s = shapesOf(l, l.flatActivation(n.inputs[0]));
      const of = (dims: number[]) => ({ shape: [], data: Float64Array.of(sizeOf(dims)), integer: true });
      l.set(n.outputs[0], { kind: "constant", tensor: of(s.one), second: of(s.two) });
    },
  },
  Cast: {
    attributes: ["to", "saturate"],
    convert(l, n) {
      const to = n.attrs.int("to", onnx.TensorProto.DataType.FLOAT);
      if (!FLOAT_TYPES.has(to)) throw new Unsupported(`a cast of a computed value to data type ${to}`);
      l.alias(n.outputs[0], n.inputs[0]);
    },
  },
};
