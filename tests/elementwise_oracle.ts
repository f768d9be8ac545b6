/**
 * Float64 references for the elementwise group: every unary function and its derivative, erf from
 * its own series and continued fraction, and broadcasting binary functions with each operand's
 * gradient found by walking the output (independent of the kernels' merged-axes plan), and the
 * graph nodes of the group for the graph oracle.
 */
import type { NodeOf } from "../pipeline/model/graph.ts";

/** erf in float64: the Maclaurin series below 3, the continued fraction of erfc above. */
export function erf64(x: number): number {
  const z = Math.abs(x);
  if (z < 3) {
    let term = z, sum = z;
    for (let n = 1; n < 200 && Math.abs(term) > 1e-17 * Math.abs(sum); n++) {
      term *= -z * z / n;
      sum += term / (2 * n + 1);
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  return Math.sign(x) * (1 - erfc64Tail(z));
}

/** erfc(z) for z >= 3 by its continued fraction, evaluated from the 80th level up. */
function erfc64Tail(z: number): number {
  let f = z;
  for (let k = 80; k >= 1; k--) f = z + (k / 2) / f;
  return Math.exp(-z * z) / Math.sqrt(Math.PI) / f;
}

const normalCdf = (x: number) => x < 0 ? 0.5 * erfc64(-x / Math.SQRT2) : 1 - 0.5 * erfc64(x / Math.SQRT2);
const erfc64 = (z: number) => (z >= 3 ? erfc64Tail(z) : 1 - erf64(z));
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const K = Math.sqrt(2 / Math.PI);

/** Constants of hard_sigmoid (alpha, beta) and pow (exponent alpha). */
export interface OracleConstants {
  alpha: number;
  beta: number;
}

/** f(x) and f'(x) for each unary function (names as the kernels'). */
export const UNARY_ORACLE: Record<
  string,
  { f(x: number, c: OracleConstants): number; df(x: number, c: OracleConstants): number }
> = {
  tanh: { f: Math.tanh, df: (x) => 1 - Math.tanh(x) ** 2 },
  erf: { f: erf64, df: (x) => (2 / Math.sqrt(Math.PI)) * Math.exp(-x * x) },
  exp: { f: Math.exp, df: Math.exp },
  log: { f: Math.log, df: (x) => 1 / x },
  sqrt: { f: Math.sqrt, df: (x) => 0.5 / Math.sqrt(x) },
  reciprocal: { f: (x) => 1 / x, df: (x) => -1 / (x * x) },
  neg: { f: (x) => -x, df: () => -1 },
  abs: { f: Math.abs, df: Math.sign },
  hard_swish: {
    f: (x) => x * Math.min(Math.max(x / 6 + 0.5, 0), 1),
    df: (x) => (x < -3 ? 0 : x > 3 ? 1 : x / 3 + 0.5),
  },
  gelu: { f: (x) => x * normalCdf(x), df: (x) => normalCdf(x) + x * Math.exp(-x * x / 2) / Math.sqrt(2 * Math.PI) },
  gelu_tanh: {
    f: (x) => 0.5 * x * (1 + Math.tanh(K * (x + 0.044715 * x ** 3))),
    df: (x) => {
      const t = Math.tanh(K * (x + 0.044715 * x ** 3));
      return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * K * (1 + 3 * 0.044715 * x * x);
    },
  },
  silu: { f: (x) => x * sigmoid(x), df: (x) => sigmoid(x) * (1 + x * (1 - sigmoid(x))) },
  hard_sigmoid: {
    f: (x, c) => Math.min(Math.max(c.alpha * x + c.beta, 0), 1),
    df: (x, c) => (c.alpha * x + c.beta > 0 && c.alpha * x + c.beta < 1 ? c.alpha : 0),
  },
  pow: { f: (x, c) => x ** c.alpha, df: (x, c) => (c.alpha === 0 ? 0 : c.alpha * x ** (c.alpha - 1)) },
};

type BinaryOracle = {
  f(a: number, b: number): number;
  da(a: number, b: number): number;
  db(a: number, b: number): number;
};
const tie = (when: boolean, a: number, b: number) => (a === b ? 0.5 : when ? 1 : 0);

/** f(a, b) and its partial derivatives for each binary function (ties of max and min split evenly). */
export const BINARY_ORACLE: Record<string, BinaryOracle> = {
  add: { f: (a, b) => a + b, da: () => 1, db: () => 1 },
  sub: { f: (a, b) => a - b, da: () => 1, db: () => -1 },
  mul: { f: (a, b) => a * b, da: (_a, b) => b, db: (a) => a },
  div: { f: (a, b) => a / b, da: (_a, b) => 1 / b, db: (a, b) => -a / (b * b) },
  max: { f: Math.max, da: (a, b) => tie(a > b, a, b), db: (a, b) => tie(b > a, a, b) },
  min: { f: Math.min, da: (a, b) => tie(a < b, a, b), db: (a, b) => tie(b < a, a, b) },
};

/** The numpy broadcast of two shapes (throws where they clash). */
export function broadcast64(a: readonly number[], b: readonly number[]): number[] {
  const rank = Math.max(a.length, b.length);
  const pa = [...new Array(rank - a.length).fill(1), ...a];
  const pb = [...new Array(rank - b.length).fill(1), ...b];
  return pa.map((d, k) => {
    if (d !== pb[k] && d !== 1 && pb[k] !== 1) throw new Error(`oracle: [${a}] and [${b}] do not broadcast`);
    return Math.max(d, pb[k]);
  });
}

/** Index into an operand of shape `shape` read at output coordinates `coords` (rank of the output). */
function sourceIndex(coords: number[], shape: readonly number[]): number {
  const offset = coords.length - shape.length;
  let index = 0;
  shape.forEach((d, k) => (index = index * d + (d === 1 ? 0 : coords[k + offset])));
  return index;
}

/** Visits every output element: its index and the indices it reads in a and b. */
function forEachElement(
  out: readonly number[],
  a: readonly number[],
  b: readonly number[],
  visit: (o: number, ia: number, ib: number) => void,
): void {
  const size = out.reduce((x, y) => x * y, 1);
  const coords = new Array(out.length).fill(0);
  for (let o = 0; o < size; o++) {
    let rest = o;
    for (let k = out.length - 1; k >= 0; k--) {
      coords[k] = rest % out[k];
      rest = Math.floor(rest / out[k]);
    }
    visit(o, sourceIndex(coords, a), sourceIndex(coords, b));
  }
}

/** fn(a, b) broadcast, with the gradients of sum(dy * out) with respect to a and to b. */
export function binaryOracle(
  fn: string,
  a: { shape: readonly number[]; data: ArrayLike<number> },
  b: { shape: readonly number[]; data: ArrayLike<number> },
  dy?: ArrayLike<number>,
): { out: Float64Array; da: Float64Array; db: Float64Array } {
  const shape = broadcast64(a.shape, b.shape);
  const op = BINARY_ORACLE[fn];
  const out = new Float64Array(shape.reduce((x, y) => x * y, 1));
  const da = new Float64Array(a.data.length);
  const db = new Float64Array(b.data.length);
  forEachElement(shape, a.shape, b.shape, (o, ia, ib) => {
    const [x, y] = [a.data[ia], b.data[ib]];
    out[o] = op.f(x, y);
    if (!dy) return;
    da[ia] += dy[o] * op.da(x, y);
    db[ib] += dy[o] * op.db(x, y);
  });
  return { out, da, db };
}

type Operand = { shape: readonly number[]; data: ArrayLike<number> };

/** A unary, hard_sigmoid, pow or binary graph node's output (for the graph oracle). */
export function elementwiseNodeOracle(
  node: NodeOf<"unary"> | NodeOf<"hard_sigmoid"> | NodeOf<"pow"> | NodeOf<"binary">,
  inputs: Operand[],
  param: (name: string) => Operand,
): { shape: number[]; data: Float64Array } {
  const [x] = inputs;
  if (node.op === "binary") {
    const c = node.constant ? param(node.constant) : undefined;
    const [a, b] = !c ? inputs : node.constantFirst ? [c, x] : [x, c];
    return { shape: broadcast64(a.shape, b.shape), data: binaryOracle(node.fn, a, b).out };
  }
  const fn = node.op === "unary" ? node.fn : node.op;
  const c = node.op === "hard_sigmoid"
    ? { alpha: node.alpha, beta: node.beta }
    : { alpha: node.op === "pow" ? node.exponent : 0, beta: 0 };
  return { shape: [...x.shape], data: Float64Array.from(x.data, (v) => UNARY_ORACLE[fn].f(v, c)) };
}
