/**
 * What a benchmark case is: a named piece of GPU work of known size, timed on our kernels and,
 * where one exists, on a peer library with the same inputs.
 */
import { mulberry32 } from "../pipeline/io/prng.ts";

/** One timed run. `ms` is the figure compared: GPU time where measured, else wall time. */
export interface Sample {
  ms: number;
  /** From recording or calling to the work being done (includes submission latency). */
  wallMs: number;
}

/** Something set up once and then run repeatedly. */
export interface Runner extends Disposable {
  run(): Promise<Sample>;
}

/** A peer library running the same case. */
export interface Peer {
  /** e.g. "tfjs-webgpu"; shown in the table. */
  name: string;
  start(): Promise<Runner>;
}

/** What a case must reach: a ratio to its peer (peer time / ours), or a share of the FMA peak. */
export type Target = { peerRatio: number } | { fmaShare: number };

export interface BenchCase {
  /** Group in the table, e.g. "conv2d". */
  group: string;
  name: string;
  /** The shape, in words, e.g. "N=32 C=64->64 16x16 3x3". */
  shape: string;
  /** Floating-point operations of one run (an fma counts 2). */
  flops: number;
  /** Compulsory bytes of one run: every input read once, every output written once. */
  bytes: number;
  start(): Promise<Runner>;
  peer?: Peer;
  target?: Target;
}

/** Uniform values in [-1, 1) from a seed, the same on every run. */
export function randomValues(count: number, seed: number): Float32Array {
  const random = mulberry32(seed);
  return Float32Array.from({ length: count }, () => 2 * random() - 1);
}
