/**
 * Float64 oracles for the non-GEMM kernels (elementwise, channel sums, pooling, batch norm,
 * softmax / cross-entropy, top-k), and the finite-difference check their backward oracles face.
 * Oracles take plain arrays and shapes; NCHW flat layout throughout.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import type { PoolWindow } from "../kernels/pool.ts";
import { sizeOf } from "../pipeline/io/size_of.ts";

type Values = ArrayLike<number>;

// ---------------------------------------------------------------- elementwise

export function clipOracle(x: Values, lo: number, hi: number): Float64Array {
  return Float64Array.from(x, (v) => Math.min(Math.max(v, lo), hi));
}

export function clipBackwardOracle(x: Values, dy: Values, lo: number, hi: number): Float64Array {
  return Float64Array.from(x, (v, i) => (v > lo && v < hi ? dy[i] : 0));
}

export function addOracle(a: Values, b: Values, scale = 1): Float64Array {
  return Float64Array.from(a, (v, i) => v + scale * b[i]);
}

export function leakyReluOracle(x: Values, alpha: number): Float64Array {
  return Float64Array.from(x, (v) => (v > 0 ? v : alpha * v));
}

export function leakyReluBackwardOracle(x: Values, dy: Values, alpha: number): Float64Array {
  return Float64Array.from(x, (v, i) => (v > 0 ? dy[i] : alpha * dy[i]));
}

export function sigmoidOracle(x: Values): Float64Array {
  return Float64Array.from(x, (v) => 1 / (1 + Math.exp(-v)));
}

/** From the forward output y: dx = dy * y * (1 - y). */
export function sigmoidBackwardOracle(y: Values, dy: Values): Float64Array {
  return Float64Array.from(y, (v, i) => dy[i] * v * (1 - v));
}

// ---------------------------------------------------------------- per-channel sums

/** out[c] = sum over n and spatial positions of (a - center[c]) * b (b = 1, center = 0 if absent). */
export function channelSumOracle(a: Values, shape: readonly number[], b?: Values, center?: Values): Float64Array {
  const [N, C] = shape;
  const HW = shape.slice(2).reduce((x, y) => x * y, 1);
  const out = new Float64Array(C);
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      for (let s = 0; s < HW; s++) {
        const i = (n * C + c) * HW + s;
        out[c] += (a[i] - (center ? center[c] : 0)) * (b ? b[i] : 1);
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------- pooling

/** [size, padBefore, padAfter, kernel, stride, dilation] of a window along height (0) or width (1). */
function windowAxis(w: PoolWindow, axis: 0 | 1): [number, number, number, number, number] {
  return axis === 0
    ? [w.padH, w.padBottom ?? w.padH, w.kernelHeight, w.strideH, w.dilationH ?? 1]
    : [w.padW, w.padRight ?? w.padW, w.kernelWidth, w.strideW, w.dilationW ?? 1];
}

/**
 * Output length along one axis, counted window by window (independently of the kernel's formula):
 * a window counts when it fits the padded input, or, in ceil mode, when it starts inside the input
 * or its leading padding and would fit with one stride of slack.
 */
function poolOutLength(size: number, w: PoolWindow, axis: 0 | 1): number {
  const [before, after, kernel, stride, dilation] = windowAxis(w, axis);
  const span = (kernel - 1) * dilation + 1;
  let count = 0;
  for (let start = -before;; start += stride) {
    const fits = start + span <= size + after;
    const partial = w.ceilMode && start < size && start + span < size + after + stride;
    if (!fits && !partial) return count;
    count++;
  }
}

/** Output shape of a pooling window, computed independently of the kernel's. */
export function poolOutShape(shape: readonly number[], w: PoolWindow): [number, number, number, number] {
  const [N, C, H, W] = shape;
  return [N, C, poolOutLength(H, w, 0), poolOutLength(W, w, 1)];
}

/**
 * Calls `visit(o, inputs, windowArea)` for every output o: `inputs` are the flat indices of x in
 * its window (row-major), `windowArea` counts its taps inside the padded input (padding included).
 */
function forEachWindow(
  shape: readonly number[],
  w: PoolWindow,
  visit: (o: number, inputs: number[], windowArea: number) => void,
): void {
  const [N, C, H, W] = shape;
  const [, , OH, OW] = poolOutShape(shape, w);
  const [top, bottom, , , dh] = windowAxis(w, 0);
  const [left, right, , , dw] = windowAxis(w, 1);
  for (let plane = 0; plane < N * C; plane++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        const inputs: number[] = [];
        let area = 0;
        for (let kh = 0; kh < w.kernelHeight; kh++) {
          for (let kw = 0; kw < w.kernelWidth; kw++) {
            const ih = oh * w.strideH - top + kh * dh, iw = ow * w.strideW - left + kw * dw;
            if (ih >= 0 && ih < H && iw >= 0 && iw < W) inputs.push((plane * H + ih) * W + iw);
            if (ih >= -top && ih < H + bottom && iw >= -left && iw < W + right) area++;
          }
        }
        visit((plane * OH + oh) * OW + ow, inputs, area);
      }
    }
  }
}

const NO_INPUT = 0xffffffff;

/** Max pooling: the first maximum in row-major window order wins; padding never does. */
export function maxPoolOracle(x: Values, shape: readonly number[], w: PoolWindow) {
  const outShape = poolOutShape(shape, w);
  const size = sizeOf(outShape);
  const y = new Float64Array(size), argmax = new Uint32Array(size);
  forEachWindow(shape, w, (o, inputs) => {
    // A window that dilation makes skip every input element gives 0 and no argmax.
    let best = inputs[0] ?? NO_INPUT;
    for (const i of inputs) if (x[i] > x[best]) best = i;
    y[o] = best === NO_INPUT ? 0 : x[best];
    argmax[o] = best;
  });
  return { y, argmax };
}

/** Scatters each output gradient to its argmax. */
export function maxPoolBackwardOracle(dy: Values, argmax: ArrayLike<number>, inputSize: number): Float64Array {
  const dx = new Float64Array(inputSize);
  for (let o = 0; o < dy.length; o++) if (argmax[o] !== NO_INPUT) dx[argmax[o]] += dy[o];
  return dx;
}

export function avgPoolOracle(x: Values, shape: readonly number[], w: PoolWindow, countIncludePad = true) {
  const y = new Float64Array(sizeOf(poolOutShape(shape, w)));
  forEachWindow(shape, w, (o, inputs, area) => {
    for (const i of inputs) y[o] += x[i];
    y[o] /= Math.max(1, countIncludePad ? area : inputs.length);
  });
  return y;
}

/** Scatters each output gradient evenly over its window (by the forward's divisor). */
export function avgPoolBackwardOracle(dy: Values, shape: readonly number[], w: PoolWindow, countIncludePad = true) {
  const dx = new Float64Array(sizeOf(shape));
  forEachWindow(shape, w, (o, inputs, area) => {
    for (const i of inputs) dx[i] += dy[o] / Math.max(1, countIncludePad ? area : inputs.length);
  });
  return dx;
}

// ---------------------------------------------------------------- batch norm

export interface BatchNormParams {
  mean: Values;
  variance: Values;
  gamma: Values;
  beta: Values;
  eps: number;
}

function channelOf(i: number, shape: readonly number[]): number {
  const HW = shape.slice(2).reduce((x, y) => x * y, 1);
  return Math.floor(i / HW) % shape[1];
}

export function batchNormOracle(x: Values, shape: readonly number[], p: BatchNormParams): Float64Array {
  return Float64Array.from(x, (v, i) => {
    const c = channelOf(i, shape);
    return (v - p.mean[c]) / Math.sqrt(p.variance[c] + p.eps) * p.gamma[c] + p.beta[c];
  });
}

/** dx, d gamma and d beta of the inference-form batch norm. */
export function batchNormBackwardOracle(x: Values, dy: Values, shape: readonly number[], p: BatchNormParams) {
  const C = shape[1];
  const dgamma = new Float64Array(C), dbeta = new Float64Array(C);
  const dx = Float64Array.from(dy, (g, i) => {
    const c = channelOf(i, shape);
    const invStd = 1 / Math.sqrt(p.variance[c] + p.eps);
    dgamma[c] += g * (x[i] - p.mean[c]) * invStd;
    dbeta[c] += g;
    return g * p.gamma[c] * invStd;
  });
  return { dx, dgamma, dbeta };
}

// ---------------------------------------------------------------- softmax / cross-entropy

/** Softmax per row of [B, C] and, with labels, the per-example cross-entropy. */
export function softmaxXentOracle(logits: Values, B: number, C: number, labels?: ArrayLike<number>) {
  const probs = new Float64Array(B * C), loss = new Float64Array(B);
  for (let r = 0; r < B; r++) {
    let m = -Infinity;
    for (let j = 0; j < C; j++) m = Math.max(m, logits[r * C + j]);
    let s = 0;
    for (let j = 0; j < C; j++) s += Math.exp(logits[r * C + j] - m);
    const lse = m + Math.log(s);
    for (let j = 0; j < C; j++) probs[r * C + j] = Math.exp(logits[r * C + j] - lse);
    if (labels) loss[r] = lse - logits[r * C + labels[r]];
  }
  return { probs, loss };
}

/** Mean cross-entropy over the rows. */
export function meanXentOracle(logits: Values, B: number, C: number, labels: ArrayLike<number>): number {
  return softmaxXentOracle(logits, B, C, labels).loss.reduce((a, b) => a + b, 0) / B;
}

/** Gradient of the mean cross-entropy: (softmax - onehot) / B. */
export function softmaxXentBackwardOracle(logits: Values, B: number, C: number, labels: ArrayLike<number>) {
  const { probs } = softmaxXentOracle(logits, B, C);
  for (let r = 0; r < B; r++) probs[r * C + labels[r]] -= 1;
  return probs.map((g) => g / B);
}

// ---------------------------------------------------------------- top-k

/** The k largest of each row, largest first, equal values by lower index. */
export function topKOracle(x: Values, B: number, C: number, k: number) {
  const values = new Float64Array(B * k), indices = new Uint32Array(B * k);
  for (let r = 0; r < B; r++) {
    const order = Array.from({ length: C }, (_, j) => j);
    order.sort((i, j) => x[r * C + j] - x[r * C + i] || i - j);
    for (let q = 0; q < k; q++) {
      values[r * k + q] = x[r * C + order[q]];
      indices[r * k + q] = order[q];
    }
  }
  return { values, indices };
}

// ---------------------------------------------------------------- shapes

/** A shape [B, C] (a dense layer's output) or [N, C, H, W], each size from 1 up to its maximum. */
export function channelShapeArb(dense: [number, number], nchw: [number, number, number, number]) {
  const dims = (maxima: number[]) => fc.tuple(...maxima.map((max) => fc.integer({ min: 1, max })));
  return fc.oneof(dims(dense), dims(nchw));
}

// ---------------------------------------------------------------- finite differences

/** Sum of a[i] * b[i]: the scalar loss whose gradient with respect to y is the cotangent b. */
export function dot(a: Values, b: Values): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/**
 * Asserts `grad` matches central differences of the scalar `loss` at `x`, on up to `samples`
 * coordinates drawn from `seed` (all coordinates when there are fewer). Returns the worst error.
 */
export function assertGradientMatches(
  loss: (x: Float64Array) => number,
  x: Values,
  grad: Values,
  what: string,
  { samples = 12, seed = 1, h = 1e-6, tol = 1e-6 } = {},
): number {
  assert.equal(grad.length, x.length, `${what}: gradient length`);
  const coords = x.length <= samples
    ? Array.from({ length: x.length }, (_, i) => i)
    : Array.from({ length: samples }, (_, q) => Math.floor(frac(seed * 7919 + q * 104729) * x.length));
  const point = Float64Array.from(x);
  let worst = 0;
  for (const i of coords) {
    const orig = point[i];
    point[i] = orig + h;
    const up = loss(point);
    point[i] = orig - h;
    const down = loss(point);
    point[i] = orig;
    const numeric = (up - down) / (2 * h);
    const err = Math.abs(numeric - grad[i]) / Math.max(1, Math.abs(numeric));
    worst = Math.max(worst, err);
    assert.ok(err <= tol, `${what}: coordinate ${i}: analytic ${grad[i]} vs finite difference ${numeric}`);
  }
  return worst;
}

/** A deterministic number in [0, 1) from an integer. */
function frac(n: number): number {
  const s = Math.sin(n) * 43758.5453;
  return s - Math.floor(s);
}
