/**
 * MMD-critic (Kim, Khanna & Koyejo, "Examples are not enough, learn to criticize!", NeurIPS 2016):
 * prototypes that summarise a set of feature rows, and criticisms, the rows the prototypes
 * represent worst.
 *
 * Prototypes maximise the MMD objective over sets of the requested size M,
 *   J(S) = 2 / (n |S|) sum_{i in [n], j in S} k_ij - 1 / |S|^2 sum_{i, j in S} k_ij
 * (= mean(K) - MMD^2(data, S)). Greedy on J itself has erratic gains (its 1/|S| weights change at
 * every pick, and on most data a later gain exceeds an earlier one). So the greedy runs on
 *   F(S) = 2 / (n M) sum_{i, j in S} k_ij - 1 / M^2 sum_{i, j in S} k_ij,
 * which equals J on every set of size M: the same optimum, but F is submodular (k >= 0), so the
 * greedy gains never increase. The gain of candidate c is 2 a_c / M - (2 b_c + k_cc) / M^2 with
 * a_c = mean_i k_ic (one pass over the Gram's row blocks on the GPU) and b_c = sum_{j in S} k_jc
 * (one Gram row added per pick): a few vector operations per pick, no n x n matrix.
 *
 * Criticisms: greedy maximisation of sum_{c in C} |w(c)| + log det K_CC over rows that are not
 * prototypes, with the witness function w(c) = a_c - b_c / |S|. The log-determinant (diversity)
 * gain of adding c is log of its Schur complement k_cc - k_Cc^T K_CC^-1 k_Cc, kept for every
 * candidate by an incremental Cholesky factorisation: one Gram row per pick again.
 *
 * @example
 * ```ts
 * import { Gpu } from "../../kernels/gpu.ts";
 * declare const features: Float32Array; // rows of 128 values
 * const gpu = await Gpu.create();
 * const { prototypes, criticisms } = await mmdCritic(gpu, features, 128, { prototypes: 8, criticisms: 4 });
 * ```
 */
import type { Gpu } from "../../kernels/gpu.ts";
import { InputError } from "../io/input_error.ts";
import { gammaOf, MEDIAN_SAMPLES, medianBandwidth } from "./mmd.ts";
import { GramEngine } from "./gram.ts";

export interface MmdCriticOptions {
  /** Prototypes to select (default 8). */
  prototypes?: number;
  /** Criticisms to select (default 4). */
  criticisms?: number;
  /** RBF bandwidth; the median heuristic when omitted. */
  sigma?: number;
  /** "logdet" (default) adds the diversity term to the criticism objective; "none" ranks by |witness| alone. */
  regularizer?: "logdet" | "none";
  /** Seed of the median heuristic's subsample (default 0). */
  seed?: number;
  /** GPU bytes per Gram block. */
  memoryBudget?: number;
}

export interface MmdCriticResult {
  /** Row positions of the prototypes, in the order picked. */
  prototypes: number[];
  /** F(S_t) - F(S_{t-1}) of each pick: never increasing. */
  prototypeGains: number[];
  /** J (= F) of the final prototype set: mean(K) - MMD^2(data, prototypes). */
  objective: number;
  /** Row positions of the criticisms, in the order picked. */
  criticisms: number[];
  /** The witness value of each criticism (positive: under-represented by the prototypes). */
  criticismWitness: number[];
  sigma: number;
}

function count(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < 0) throw new InputError(`mmd-critic: ${name} must be a whole number, got ${v}`);
  return v;
}

/** Index of the largest score among rows not excluded; -1 if none. */
function argmax(scores: Float64Array, excluded: Uint8Array): number {
  let best = -1;
  for (let i = 0; i < scores.length; i++) {
    if (!excluded[i] && (best < 0 || scores[i] > scores[best])) best = i;
  }
  return best;
}

/**
 * An upper bound on the Gram work, in multiply-adds (a Gram entry costs `width` of them), of
 * `mmdCritic` run once per class over `rows` feature rows in all with at most `rowsPerClass` in any of
 * `classes` classes. A class of n rows costs: the median heuristic's Gram over min(n, S) rows
 * (S = MEDIAN_SAMPLES), the row sums' Gram (at most n^2 entries), one Gram row per prototype and
 * per criticism (P picks: P (n + 1) with their norms), and the norms of the rows uploaded (2n).
 * With n <= rowsPerClass = K and the n's summing to `rows` = R, sum n^2 <= K R and
 * sum min(n, S)^2 <= min(K, S) R, so the whole stage costs at most
 * width (R (K + min(K, S) + 2 + P) + P min(classes, R)): linear in the rows, whatever the classes.
 *
 * @example
 * ```ts
 * // 1,000 classes of up to 2,048 rows each, 50,000 rows in all, 2,048 wide, 8 + 4 picks: ~3.1e11
 * mmdCriticWorkBound({ rows: 50_000, rowsPerClass: 2048, classes: 1000, width: 2048, picks: 12 });
 * ```
 */
export function mmdCriticWorkBound(
  sizes: { rows: number; rowsPerClass: number; classes: number; width: number; picks: number },
): number {
  const { rows, rowsPerClass, classes, width, picks } = sizes;
  const perRow = rowsPerClass + Math.min(rowsPerClass, MEDIAN_SAMPLES) + 2 + picks;
  return width * (rows * perRow + picks * Math.min(classes, rows));
}

/** Prototypes and criticisms of `features` (n rows of `width`). */
export async function mmdCritic(
  gpu: Gpu,
  features: Float32Array,
  width: number,
  options: MmdCriticOptions = {},
): Promise<MmdCriticResult> {
  const n = features.length / width;
  const wantPrototypes = Math.min(n, count("prototypes", options.prototypes, 8));
  const wantCriticisms = Math.min(n - wantPrototypes, count("criticisms", options.criticisms, 4));
  const sigma = options.sigma ??
    await medianBandwidth(gpu, features, width, { seed: options.seed, memoryBudget: options.memoryBudget });
  const gamma = gammaOf(sigma);
  using engine = await GramEngine.create(gpu, features, width, { memoryBudget: options.memoryBudget });
  const a = (await engine.rowSums(gamma)).map((v) => v / n); // K is symmetric: row sums are column sums
  const chosen = new Uint8Array(n);
  const b = new Float64Array(n);
  const gain = new Float64Array(n);
  const prototypes: number[] = [], prototypeGains: number[] = [];
  const M = wantPrototypes;
  let objective = 0;
  for (let m = 0; m < M; m++) {
    for (let c = 0; c < n; c++) gain[c] = (2 * a[c]) / M - (2 * b[c] + 1) / (M * M); // k_cc = 1
    const pick = argmax(gain, chosen);
    prototypes.push(pick);
    prototypeGains.push(gain[pick]);
    objective += gain[pick];
    chosen[pick] = 1;
    const row = await engine.rows([pick], gamma);
    for (let c = 0; c < n; c++) b[c] += row[c];
  }
  const witness = a.map((v, c) => v - (prototypes.length > 0 ? b[c] / prototypes.length : 0));
  const criticisms = await pickCriticisms(
    engine,
    gamma,
    witness,
    chosen,
    wantCriticisms,
    options.regularizer ?? "logdet",
  );
  return {
    prototypes,
    prototypeGains,
    objective,
    criticisms,
    criticismWitness: criticisms.map((c) => witness[c]),
    sigma,
  };
}

/**
 * Greedy criticisms: score(c) = |w(c)| + log d_c, with d_c the Schur complement of c against the
 * criticisms so far (1 at the start: k_cc = 1), updated per pick j by the next Cholesky column
 * e_c = (k_jc - sum_t E_t[j] E_t[c]) / sqrt(d_j), d_c -= e_c^2.
 */
async function pickCriticisms(
  engine: GramEngine,
  gamma: number,
  witness: Float64Array,
  excluded: Uint8Array,
  want: number,
  regularizer: "logdet" | "none",
): Promise<number[]> {
  const n = witness.length;
  const skip = excluded.slice();
  const residual = new Float64Array(n).fill(1);
  const columns: Float64Array[] = [];
  const score = new Float64Array(n);
  const picks: number[] = [];
  for (let t = 0; t < want; t++) {
    for (let c = 0; c < n; c++) {
      // A duplicate of a pick has residual 0: log(0) = -inf keeps it from being picked again.
      score[c] = Math.abs(witness[c]) + (regularizer === "logdet" ? Math.log(Math.max(residual[c], 0)) : 0);
    }
    const pick = argmax(score, skip);
    if (pick < 0) break;
    picks.push(pick);
    skip[pick] = 1;
    if (regularizer === "none" || t === want - 1) continue;
    const row = await engine.rows([pick], gamma);
    const pivot = Math.sqrt(Math.max(residual[pick], 1e-300));
    const column = new Float64Array(n);
    for (let c = 0; c < n; c++) {
      let dot = 0;
      for (const e of columns) dot += e[pick] * e[c];
      column[c] = (row[c] - dot) / pivot;
      residual[c] -= column[c] * column[c];
    }
    columns.push(column);
  }
  return picks;
}
