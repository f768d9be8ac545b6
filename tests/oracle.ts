/**
 * Float64 reference implementations (oracles) that the WGSL kernels are checked against,
 * and the comparison helpers the kernel tests share.
 */
import assert from "node:assert/strict";

/** C = op(A) op(B) in float64; A is M x K (or K x M if transA), B is K x N (or N x K if transB). */
export function matmulOracle(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  M: number,
  N: number,
  K: number,
  transA = false,
  transB = false,
): Float64Array {
  const c = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) {
        const av = transA ? a[k * M + m] : a[m * K + k];
        const bv = transB ? b[n * K + k] : b[k * N + n];
        s += av * bv;
      }
      c[m * N + n] = s;
    }
  }
  return c;
}

/** Largest absolute difference between two arrays of the same length. */
export function maxAbsDiff(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  assert.equal(actual.length, expected.length, "length");
  let worst = 0;
  for (let i = 0; i < actual.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
  return worst;
}

/**
 * Asserts float32 results match a float64 oracle. The tolerance grows with the reduction length
 * (float32 rounding error of a sum of n terms grows about like sqrt(n), bounded by n).
 */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  reductionLength: number,
  what: string,
  scale = 1,
): number {
  const tol = 1e-5 * scale * Math.max(1, Math.sqrt(reductionLength)) * 4;
  const err = maxAbsDiff(actual, expected);
  assert.ok(err <= tol, `${what}: max error ${err} exceeds ${tol}`);
  return err;
}

/** Seeded uniform values in [-1, 1): deterministic test inputs. */
export function randomArray(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = (seed >>> 0) || 1;
  for (let i = 0; i < n; i++) {
    // xorshift32
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = (s / 0x100000000) * 2 - 1;
  }
  return out;
}
