/**
 * What the movement ops record: each is one or two strided copies (kernels/movement.ts). A gather
 * forward is a scatter backward with the same strides, source and destination swapped; where the
 * forward does not read every input element (a slice, a crop), backward clears the gradient first.
 *
 * @example
 * ```ts
 * import type { LayerContext } from "../layers.ts";
 * import type { NodeOf } from "../graph.ts";
 * import type { TensorLike } from "../../../kernels/tensor.ts";
 * declare const ctx: LayerContext;
 * declare const x: TensorLike;
 * const node: NodeOf<"permute"> = { name: "t", op: "permute", inputs: ["x"], perm: [0, 2, 1] };
 * const { output } = MOVEMENT_LAYERS.permute.forward(ctx, node, [x], [[2, 3, 4]], [2, 4, 3]);
 * ```
 */
import { contiguousStrides, recordStridedCopy, type StridedCopyArgs } from "../../../kernels/movement.ts";
import type { Tensor, TensorLike } from "../../../kernels/tensor.ts";
import { sizeOf } from "../../io/size_of.ts";
import type { NodeOf } from "../graph.ts";
import type { Layer, LayerContext } from "../layers.ts";

function copy(ctx: LayerContext, args: StridedCopyArgs): void {
  recordStridedCopy(ctx.step, ctx.kernels.movement, args);
}

/** Where the output's points sit in the input: strides per output axis, first offset, and whether every input element is read. */
interface Window {
  strides: number[];
  offset: number;
  readsAll: boolean;
}

/** A layer whose output point c is input element offset + c . strides (permute, slice). */
function windowLayer<N extends NodeOf<"permute"> | NodeOf<"slice">>(
  windowOf: (node: N, xShape: number[]) => Window,
): Layer<N> {
  return {
    forward(ctx, node, [x], [xShape], outShape) {
      const y = ctx.alloc(outShape);
      const { strides, offset } = windowOf(node, xShape);
      copy(ctx, {
        src: x,
        dst: y,
        dims: outShape,
        srcStrides: strides,
        srcOffset: offset,
        dstStrides: contiguousStrides(outShape),
      });
      return { output: y };
    },
    backward(ctx, node, { inputShapes: [xShape], dy, wantInput }) {
      if (!wantInput[0]) return { inputs: [null], params: new Map() };
      const dx = ctx.alloc(xShape);
      const { strides, offset, readsAll } = windowOf(node, xShape);
      if (!readsAll) ctx.step.clear(dx);
      const dims = [...dy.shape];
      copy(ctx, {
        src: dy,
        dst: dx,
        dims,
        srcStrides: contiguousStrides(dims),
        dstStrides: strides,
        dstOffset: offset,
      });
      return { inputs: [dx], params: new Map() };
    },
  };
}

const permute = windowLayer<NodeOf<"permute">>((node, xShape) => {
  const xs = contiguousStrides(xShape);
  return { strides: node.perm.map((p) => xs[p]), offset: 0, readsAll: true };
});

const slice = windowLayer<NodeOf<"slice">>((node, xShape) => {
  const xs = contiguousStrides(xShape);
  const strides = [...xs];
  let offset = 0;
  node.axes.forEach((axis, i) => {
    strides[axis] = xs[axis] * node.steps[i];
    offset += node.starts[i] * xs[axis];
  });
  const readsAll = node.axes.every((axis, i) => node.counts[i] === xShape[axis] && Math.abs(node.steps[i]) === 1);
  return { strides, offset, readsAll };
});

/** The part of a pad's input that survives cropping, and where it starts in the input and the output. */
function padOverlap(node: NodeOf<"pad">, xShape: number[], outShape: number[]) {
  const rank = xShape.length;
  const [xs, ys] = [contiguousStrides(xShape), contiguousStrides(outShape)];
  const before = node.pads.slice(0, rank);
  const after = node.pads.slice(rank);
  const dims = xShape.map((d, a) => d - Math.max(-before[a], 0) - Math.max(-after[a], 0));
  const inOffset = before.reduce((sum, b, a) => sum + Math.max(-b, 0) * xs[a], 0);
  const outOffset = before.reduce((sum, b, a) => sum + Math.max(b, 0) * ys[a], 0);
  return {
    dims,
    xs,
    ys,
    inOffset,
    outOffset,
    grows: node.pads.some((p) => p > 0),
    crops: node.pads.some((p) => p < 0),
  };
}

const pad: Layer<NodeOf<"pad">> = {
  forward(ctx, node, [x], [xShape], outShape) {
    const y = ctx.alloc(outShape);
    const o = padOverlap(node, xShape, outShape);
    if (o.grows) copy(ctx, { dst: y, dims: outShape, dstStrides: o.ys, value: node.value });
    copy(ctx, {
      src: x,
      dst: y,
      dims: o.dims,
      srcStrides: o.xs,
      srcOffset: o.inOffset,
      dstStrides: o.ys,
      dstOffset: o.outOffset,
    });
    return { output: y };
  },
  backward(ctx, node, { inputShapes: [xShape], dy, wantInput }) {
    if (!wantInput[0]) return { inputs: [null], params: new Map() };
    const dx = ctx.alloc(xShape);
    const o = padOverlap(node, xShape, [...dy.shape]);
    if (o.crops) ctx.step.clear(dx);
    copy(ctx, {
      src: dy,
      dst: dx,
      dims: o.dims,
      srcStrides: o.ys,
      srcOffset: o.outOffset,
      dstStrides: o.xs,
      dstOffset: o.inOffset,
    });
    return { inputs: [dx], params: new Map() };
  },
};

/**
 * Records dst = src broadcast to dst's shape (numpy rules), or with `sum`, its backward: dst = src
 * summed over the axes along which a broadcast of dst's shape to src's spreads.
 */
function recordBroadcast(ctx: LayerContext, src: TensorLike, dst: Tensor, sum = false): void {
  const [small, big] = sum ? [dst.shape, src.shape] : [src.shape, dst.shape];
  const aligned = [...new Array(big.length - small.length).fill(1), ...small];
  const spread = big.map((d, j) => aligned[j] === 1 && d !== 1);
  const walked = contiguousStrides(sum ? big : aligned);
  const dims = sum ? aligned : [...big];
  const bigStrides = contiguousStrides(big);
  copy(ctx, {
    src,
    dst,
    dims,
    srcStrides: walked.map((stride, j) => (spread[j] ? 0 : stride)),
    dstStrides: contiguousStrides(dims),
    reduce: sum
      ? { dims: big.filter((_, j) => spread[j]), strides: bigStrides.filter((_, j) => spread[j]) }
      : undefined,
  });
}

const expand: Layer<NodeOf<"expand">> = {
  forward(ctx, _node, [x], _shapes, outShape) {
    const y = ctx.alloc(outShape);
    recordBroadcast(ctx, x, y);
    return { output: y };
  },
  backward(ctx, _node, { inputShapes: [xShape], dy, wantInput }) {
    if (!wantInput[0]) return { inputs: [null], params: new Map() };
    const dx = ctx.alloc(xShape);
    recordBroadcast(ctx, dy, dx, true);
    return { inputs: [dx], params: new Map() };
  },
};

const constant: Layer<NodeOf<"constant">> = {
  forward(ctx, node, _inputs, _shapes, outShape) {
    const y = ctx.alloc(outShape);
    recordBroadcast(ctx, ctx.param(node.tensor), y);
    return { output: y };
  },
  backward(ctx, node, { dy, wantParams }) {
    const params = new Map<string, Tensor>();
    if (wantParams) {
      const grad = ctx.alloc(ctx.param(node.tensor).shape);
      recordBroadcast(ctx, dy, grad, true);
      params.set(node.tensor, grad);
    }
    return { inputs: [null], params };
  },
};

/** Above this many contiguous blocks, a concat copies with one kernel per input rather than one buffer copy per block. */
const MAX_BLOCK_COPIES = 256;

/**
 * Concatenation along any axis. Each input fills a window of the output: for few blocks (the
 * channel axis of an NCHW batch) as buffer copies of each input's contiguous block per leading
 * index, otherwise as one strided copy per input; backward reads the same windows back.
 */
const concat: Layer<NodeOf<"concat">> = {
  forward(ctx, node, inputs, inputShapes, outShape) {
    const y = ctx.alloc(outShape);
    forEachConcatWindow(node, inputShapes, outShape, (i, window) => {
      if (window.blocks) {
        window.blocks.forEach(([from, to, count]) => ctx.step.copyRange(inputs[i], from, y, to, count));
      } else {copy(ctx, {
          src: inputs[i],
          dst: y,
          dims: inputShapes[i],
          srcStrides: window.inStrides,
          dstStrides: window.outStrides,
          dstOffset: window.offset,
        });}
    });
    return { output: y };
  },
  backward(ctx, node, { inputShapes, dy, wantInput }) {
    const inputs = wantInput.map((want, i) => (want ? ctx.alloc(inputShapes[i]) : null));
    forEachConcatWindow(node, inputShapes, [...dy.shape], (i, window) => {
      const dx = inputs[i];
      if (!dx) return;
      if (window.blocks) window.blocks.forEach(([from, to, count]) => ctx.step.copyRange(dy, to, dx, from, count));
      else {copy(ctx, {
          src: dy,
          dst: dx,
          dims: inputShapes[i],
          srcStrides: window.outStrides,
          srcOffset: window.offset,
          dstStrides: window.inStrides,
        });}
    });
    return { inputs, params: new Map() };
  },
};

interface ConcatWindow {
  inStrides: number[];
  outStrides: number[];
  offset: number;
  /** [offset in input, offset in output, count] per contiguous block, when there are few. */
  blocks: [number, number, number][] | null;
}

function forEachConcatWindow(
  node: NodeOf<"concat">,
  inputShapes: number[][],
  outShape: number[],
  visit: (input: number, window: ConcatWindow) => void,
): void {
  const axis = node.axis ?? 1;
  const outStrides = contiguousStrides(outShape);
  const outer = sizeOf(outShape.slice(0, axis));
  const outBlock = sizeOf(outShape.slice(axis));
  let along = 0;
  inputShapes.forEach((shape, i) => {
    const offset = along * outStrides[axis];
    const block = sizeOf(shape.slice(axis));
    const blocks = outer * inputShapes.length <= MAX_BLOCK_COPIES
      ? Array.from({ length: outer }, (_, n): [number, number, number] => [n * block, n * outBlock + offset, block])
      : null;
    visit(i, { inStrides: contiguousStrides(shape), outStrides, offset, blocks });
    along += shape[axis];
  });
}

/** The movement ops' recordings (view is layers.ts's plain copy), for layers.ts's table. */
export const MOVEMENT_LAYERS = { permute, slice, pad, expand, constant, concat };
