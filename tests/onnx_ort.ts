/**
 * onnxruntime (onnxruntime-node, a test-only dependency) as the reference an imported model is
 * checked against: logits for images in image space (the normalisation the executor applies is
 * applied here first), and central finite differences of the mean cross-entropy of those logits.
 */
import assert from "node:assert/strict";
import * as ort from "onnxruntime-node";
import { meanXentOracle } from "./ops_oracle.ts";
import { randomArray } from "./oracle.ts";

export class OrtModel {
  private constructor(
    readonly session: ort.InferenceSession,
    readonly normalization: { mean: number[]; std: number[] },
  ) {}

  static async create(bytes: Uint8Array, normalization: { mean: number[]; std: number[] }): Promise<OrtModel> {
    return new OrtModel(await ort.InferenceSession.create(bytes), normalization);
  }

  /** Logits for NCHW images in image space, as float64. */
  async logits(x: ArrayLike<number>, shape: number[]): Promise<Float64Array> {
    const [, c, h, w] = shape;
    const { mean, std } = this.normalization;
    const normalized = Float32Array.from(x, (v, i) => {
      const ch = Math.floor(i / (h * w)) % c;
      return (v - mean[ch]) / std[ch];
    });
    const feeds = { [this.session.inputNames[0]]: new ort.Tensor("float32", normalized, shape) };
    const result = await this.session.run(feeds);
    return Float64Array.from(result[this.session.outputNames[0]].data as Float32Array);
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

/**
 * Asserts |ours - theirs| <= max(1e-4 * |theirs|, 1e-5) element by element; returns the largest
 * absolute difference.
 */
export function assertLogitsMatch(ours: ArrayLike<number>, theirs: ArrayLike<number>, what: string): number {
  assert.equal(ours.length, theirs.length, `${what}: logit count`);
  let worst = 0;
  for (let i = 0; i < ours.length; i++) {
    const diff = Math.abs(ours[i] - theirs[i]);
    worst = Math.max(worst, diff);
    assert.ok(
      diff <= Math.max(1e-4 * Math.abs(theirs[i]), 1e-5),
      `${what}: logit ${i}: ours ${ours[i]}, onnxruntime ${theirs[i]} (difference ${diff})`,
    );
  }
  return worst;
}

/**
 * Checks an input gradient of the mean cross-entropy against central differences of onnxruntime's
 * logits on sampled coordinates: the `largest` coordinates by |gradient| (where the signal is) and
 * `random` others. onnxruntime computes in float32, so errors are relative to the largest gradient
 * sampled. A ReLU or max-pool kink inside [x - h, x + h] makes the one-sided differences disagree;
 * such coordinates are skipped (at most a quarter of them). Returns the worst error and the skips.
 */
export async function assertGradientMatchesOrt(
  model: OrtModel,
  x: Float32Array,
  shape: number[],
  labels: number[],
  gradient: ArrayLike<number>,
  what: string,
  { largest = 6, random = 10, h = 1e-3, tol = 0.02, seed = 3 } = {},
): Promise<{ worst: number; skipped: number }> {
  const classes = (await model.logits(x, shape)).length / shape[0];
  const loss = async (point: Float32Array) =>
    meanXentOracle(await model.logits(point, shape), shape[0], classes, labels);
  const byMagnitude = Array.from(gradient, (g, i) => [Math.abs(g), i]).sort((a, b) => b[0] - a[0]);
  const coords = new Set(byMagnitude.slice(0, largest).map(([, i]) => i));
  const draws = randomArray(4 * random, seed);
  for (let q = 0; coords.size < largest + random && q < draws.length; q++) {
    coords.add(Math.floor(((draws[q] + 1) / 2) * x.length));
  }
  const scale = Math.max(...[...coords].map((i) => Math.abs(gradient[i])));
  assert.ok(scale > 0, `${what}: the sampled gradient is all zero`);
  const center = await loss(x);
  const point = Float32Array.from(x);
  let worst = 0;
  let skipped = 0;
  for (const i of coords) {
    point[i] = x[i] + h;
    const up = await loss(point);
    point[i] = x[i] - h;
    const down = await loss(point);
    point[i] = x[i];
    if (Math.abs((up - center) - (center - down)) / h > tol * scale) {
      skipped++;
      continue;
    }
    const numeric = (up - down) / (2 * h);
    const err = Math.abs(numeric - gradient[i]) / scale;
    worst = Math.max(worst, err);
    assert.ok(
      err <= tol,
      `${what}: coordinate ${i}: executor ${gradient[i]} vs onnxruntime finite difference ${numeric}`,
    );
  }
  assert.ok(skipped <= coords.size / 4, `${what}: ${skipped} of ${coords.size} coordinates sit on kinks`);
  return { worst, skipped };
}
