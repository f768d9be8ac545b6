/**
 * Float64 oracles of the reduce group's kernels: reductions along axes, softmax along an axis,
 * layer/instance norm, and matmul with broadcast batch dims, with their analytic gradients.
 */
import type { NodeOf } from "../pipeline/model/graph.ts";

type Values = ArrayLike<number>;

function stridesOf(shape: readonly number[]): number[] {
  const strides = new Array(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) strides[i] = strides[i + 1] * shape[i + 1];
  return strides;
}

const sizeOf = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** The output index (keepdims layout) of every input index of a reduction. */
function outputIndices(shape: readonly number[], axes: readonly number[]): number[] {
  const reduced = new Set(axes);
  const outShape = shape.map((d, i) => (reduced.has(i) ? 1 : d));
  const inStrides = stridesOf(shape);
  const outStrides = stridesOf(outShape);
  return Array.from(
    { length: sizeOf(shape) },
    (_, i) => shape.reduce((o, d, a) => o + (reduced.has(a) ? 0 : Math.floor(i / inStrides[a]) % d * outStrides[a]), 0),
  );
}

/** Sum, mean or max along axes; argmax is the first (lowest) input index of each maximum. */
export function reduceOracle(x: Values, shape: readonly number[], axes: readonly number[], kind: string) {
  const out = outputIndices(shape, axes);
  const count = sizeOf(shape.filter((_, i) => axes.includes(i)));
  const size = sizeOf(shape) / count;
  const y = new Float64Array(size).fill(kind === "max" ? -Infinity : 0);
  const argmax = new Array(size).fill(-1);
  for (let i = 0; i < x.length; i++) {
    if (kind === "max") {
      if (x[i] > y[out[i]]) [y[out[i]], argmax[out[i]]] = [x[i], i];
    } else y[out[i]] += x[i];
  }
  if (kind === "mean") y.forEach((v, i) => (y[i] = v / count));
  return { y, argmax };
}

/** The input gradient of a reduction. */
export function reduceBackwardOracle(
  dy: Values,
  shape: readonly number[],
  axes: readonly number[],
  kind: string,
  argmax: number[],
): Float64Array {
  const out = outputIndices(shape, axes);
  const count = sizeOf(shape.filter((_, i) => axes.includes(i)));
  return Float64Array.from(
    out,
    (o, i) => kind === "max" ? (argmax[o] === i ? dy[o] : 0) : kind === "mean" ? dy[o] / count : dy[o],
  );
}

/** Calls visit(indices) for every row along `axis` (the flat indices of its values). */
function forEachRow(shape: readonly number[], axis: number, visit: (indices: number[]) => void): void {
  const inner = sizeOf(shape.slice(axis + 1));
  const A = shape[axis];
  const outer = sizeOf(shape.slice(0, axis));
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) visit(Array.from({ length: A }, (_, k) => (o * A + k) * inner + j));
  }
}

/** Softmax (or log-softmax) along `axis`. */
export function softmaxOracle(x: Values, shape: readonly number[], axis: number, log = false): Float64Array {
  const y = new Float64Array(x.length);
  forEachRow(shape, axis, (row) => {
    const m = Math.max(...row.map((i) => x[i]));
    const s = row.reduce((acc, i) => acc + Math.exp(x[i] - m), 0);
    for (const i of row) y[i] = log ? x[i] - m - Math.log(s) : Math.exp(x[i] - m) / s;
  });
  return y;
}

/** The analytic input gradient of softmax (or log-softmax) from its output y. */
export function softmaxBackwardOracle(
  y: Values,
  dy: Values,
  shape: readonly number[],
  axis: number,
  log = false,
): Float64Array {
  const dx = new Float64Array(y.length);
  forEachRow(shape, axis, (row) => {
    const total = row.reduce((acc, i) => acc + (log ? dy[i] : dy[i] * y[i]), 0);
    for (const i of row) dx[i] = log ? dy[i] - Math.exp(y[i]) * total : y[i] * (dy[i] - total);
  });
  return dx;
}

/** Rows of D values normalised, then scale/bias per position (or per channel: row % channels). */
export function layerNormOracle(
  x: Values,
  D: number,
  scale: Values,
  bias: Values | undefined,
  eps: number,
  channels?: number,
): Float64Array {
  const y = new Float64Array(x.length);
  for (let r = 0; r < x.length / D; r++) {
    const row = Array.from({ length: D }, (_, d) => x[r * D + d]);
    const mean = row.reduce((a, b) => a + b, 0) / D;
    const variance = row.reduce((a, b) => a + (b - mean) ** 2, 0) / D;
    const rstd = 1 / Math.sqrt(variance + eps);
    row.forEach((v, d) => {
      const a = channels ? r % channels : d;
      y[r * D + d] = (v - mean) * rstd * scale[a] + (bias ? bias[a] : 0);
    });
  }
  return y;
}

/** Analytic gradients of layerNormOracle: dx, d scale, d bias. */
export function layerNormBackwardOracle(
  x: Values,
  dy: Values,
  D: number,
  scale: Values,
  eps: number,
  channels?: number,
) {
  const dx = new Float64Array(x.length);
  const dscale = new Float64Array(scale.length);
  const dbias = new Float64Array(scale.length);
  for (let r = 0; r < x.length / D; r++) {
    const row = Array.from({ length: D }, (_, d) => x[r * D + d]);
    const mean = row.reduce((a, b) => a + b, 0) / D;
    const rstd = 1 / Math.sqrt(row.reduce((a, b) => a + (b - mean) ** 2, 0) / D + eps);
    const xhat = row.map((v) => (v - mean) * rstd);
    const at = (d: number) => (channels ? r % channels : d);
    const g = xhat.map((_, d) => dy[r * D + d] * scale[at(d)]);
    const meanG = g.reduce((a, b) => a + b, 0) / D;
    const meanGX = g.reduce((a, b, d) => a + b * xhat[d], 0) / D;
    xhat.forEach((h, d) => {
      dx[r * D + d] = rstd * (g[d] - meanG - h * meanGX);
      dscale[at(d)] += dy[r * D + d] * h;
      dbias[at(d)] += dy[r * D + d];
    });
  }
  return { dx, dscale, dbias };
}

/** numpy matmul of [..., M, K] and [..., K, N] (each optionally with its last two axes swapped), batch dims broadcast. */
export function batchedMatmulOracle(
  a: Values,
  aShape: readonly number[],
  b: Values,
  bShape: readonly number[],
  transA = false,
  transB = false,
): { c: Float64Array; shape: number[] } {
  const [M, K] = transA ? [aShape.at(-1)!, aShape.at(-2)!] : [aShape.at(-2)!, aShape.at(-1)!];
  const N = transB ? bShape.at(-2)! : bShape.at(-1)!;
  const batchA = aShape.slice(0, -2), batchB = bShape.slice(0, -2);
  const rank = Math.max(batchA.length, batchB.length);
  const pad = (s: readonly number[]) => [...new Array(rank - s.length).fill(1), ...s];
  const [pa, pb] = [pad(batchA), pad(batchB)];
  const batch = pa.map((d, i) => Math.max(d, pb[i]));
  const c = new Float64Array(sizeOf(batch) * M * N);
  const bStrides = stridesOf(batch);
  for (let g = 0; g < sizeOf(batch); g++) {
    const coords = batch.map((d, i) => Math.floor(g / bStrides[i]) % d);
    const flat = (own: number[]) => coords.reduce((acc, cd, i) => acc * own[i] + (own[i] === 1 ? 0 : cd), 0);
    const [ga, gb] = [flat(pa), flat(pb)];
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let s = 0;
        for (let k = 0; k < K; k++) {
          const av = a[ga * M * K + (transA ? k * M + m : m * K + k)];
          const bv = b[gb * K * N + (transB ? n * K + k : k * N + n)];
          s += av * bv;
        }
        c[(g * M + m) * N + n] = s;
      }
    }
  }
  return { c, shape: [...batch, M, N] };
}

/** A node of the reduce group in float64, for the graph oracle (graph_oracle.ts); operands of rank >= 2. */
export function reduceGroupNode(
  node: NodeOf<"reduce" | "softmax" | "layer_norm" | "instance_norm" | "matmul">,
  [a, b]: { shape: number[]; data: ArrayLike<number> }[],
  param: (name: string) => ArrayLike<number>,
): { shape: number[]; data: Float64Array } {
  switch (node.op) {
    case "reduce": {
      const reduced = new Set(node.axes);
      const shape = node.keepdims
        ? a.shape.map((d, i) => (reduced.has(i) ? 1 : d))
        : a.shape.filter((_, i) => !reduced.has(i));
      return { shape, data: reduceOracle(a.data, a.shape, node.axes, node.kind).y };
    }
    case "softmax":
      return { shape: a.shape, data: softmaxOracle(a.data, a.shape, node.axis, node.log) };
    case "layer_norm":
    case "instance_norm": {
      const from = node.op === "layer_norm" ? node.axis : 2;
      const D = sizeOf(a.shape.slice(from));
      const bias = node.bias ? param(node.bias) : undefined;
      const channels = node.op === "instance_norm" ? a.shape[1] : undefined;
      return { shape: a.shape, data: layerNormOracle(a.data, D, param(node.scale), bias, node.epsilon, channels) };
    }
    case "matmul": {
      const { c, shape } = batchedMatmulOracle(a.data, a.shape, b.data, b.shape, node.transA, node.transB);
      return { shape, data: c };
    }
  }
}
