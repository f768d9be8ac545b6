/**
 * A seeded pseudo-random generator that gives the same sequence on every machine and runtime
 * (integer arithmetic only), for splits and shuffles that must be reproducible.
 *
 * @example
 * ```ts
 * const order = seededPermutation(10, 42); // the same 10 indices everywhere, for seed 42
 * ```
 */

/**
 * mulberry32 (Tommy Ettinger): a 32-bit state generator; returns floats in [0, 1) that are
 * exact multiples of 2^-32.
 *
 * @example
 * ```ts
 * const random = mulberry32(1);
 * random(); // 0.6270739405881613
 * ```
 */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A permutation of 0..n-1 by Fisher-Yates (from the end, j uniform in [0, i]) driven by mulberry32.
 * Exact on every machine: `random() * (i + 1)` needs at most 32 + 32 bits, below double precision
 * for n < 2^21.
 *
 * @example
 * ```ts
 * const order = seededPermutation(5, 7);
 * ```
 */
export function seededPermutation(n: number, seed: number): Uint32Array {
  const order = Uint32Array.from({ length: n }, (_, i) => i);
  const random = mulberry32(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}
