/** Float64 oracles of the attack kernels (attack_step.wgsl, attack_momentum.wgsl, dlr.wgsl). */

type Values = ArrayLike<number>;

/**
 * x' = clip(clamp(x + scale * eps[n] * d, origin - eps[n], origin + eps[n]), lo, hi) per element of
 * image n, with d = sign(grad) or grad itself.
 */
export function attackStepOracle(
  args: {
    x: Values;
    origin: Values;
    grad: Values;
    eps: Values;
    scale: number;
    range: [number, number];
    useSign: boolean;
  },
): Float64Array {
  const per = args.x.length / args.eps.length;
  const [lo, hi] = args.range;
  return Float64Array.from(args.x, (v, i) => {
    const e = args.eps[Math.floor(i / per)];
    const g = args.grad[i];
    const d = args.useSign ? Math.sign(g) : g;
    const o = args.origin[i];
    const projected = Math.min(Math.max(v + args.scale * e * d, o - e), o + e);
    return Math.min(Math.max(projected, lo), hi);
  });
}

/** The APGD step of attack_momentum.wgsl: the next iterate, in float64. */
export function momentumStepOracle(
  args: {
    x: Values;
    xPrev: Values;
    origin: Values;
    grad: Values;
    eps: Values;
    eta: Values;
    alpha: number;
    direction: number;
    range: [number, number];
  },
): Float64Array {
  const per = args.x.length / args.eps.length;
  const [lo, hi] = args.range;
  return Float64Array.from(args.x, (v, i) => {
    const e = args.eps[Math.floor(i / per)];
    const o = args.origin[i];
    const project = (u: number) => Math.min(Math.max(Math.min(Math.max(u, o - e), o + e), lo), hi);
    const z = project(v + args.direction * args.eta[Math.floor(i / per)] * Math.sign(args.grad[i]));
    return project(v + args.alpha * (z - v) + (1 - args.alpha) * (v - args.xPrev[i]));
  });
}

/**
 * The L2 step of attack_l2_step.wgsl in float64, written after AutoAttack's APGD L2 (the
 * reference code's two projections: (u - x) / (||u - x|| + 1e-12) * min(eps, ||u - x||), then the
 * clip to the range): a step along the normalised gradient, projected; momentum; projected again.
 */
export function l2StepOracle(args: Parameters<typeof momentumStepOracle>[0]): Float64Array {
  const per = args.x.length / args.eps.length;
  const [lo, hi] = args.range;
  const out = new Float64Array(args.x.length);
  for (let n = 0; n < args.eps.length; n++) {
    const at = (values: Values) => Array.from({ length: per }, (_, j) => values[n * per + j]);
    const [x, prev, o, g] = [at(args.x), at(args.xPrev), at(args.origin), at(args.grad)];
    const norm = (v: number[]) => Math.sqrt(v.reduce((s, a) => s + a * a, 0));
    const project = (u: number[]) => {
      const d = u.map((v, j) => v - o[j]);
      const k = Math.min(args.eps[n], norm(d)) / (norm(d) + 1e-12);
      return d.map((v, j) => Math.min(Math.max(o[j] + v * k, lo), hi));
    };
    const gn = norm(g) + 1e-12;
    const z = project(x.map((v, j) => v + args.direction * args.eta[n] * g[j] / gn));
    const next = project(x.map((v, j) => v + args.alpha * (z[j] - v) + (1 - args.alpha) * (v - prev[j])));
    out.set(next, n * per);
  }
  return out;
}

/**
 * The DLR loss of one row of logits in float64, from its definition (Croce & Hein 2020, eq. 6 and
 * the targeted form of their reference code): sorted descending, z_p1 >= z_p2 >= ...
 */
export function dlrOracle(logits: readonly number[], label: number, target?: number): number {
  const sorted = [...logits].sort((a, b) => b - a);
  if (target !== undefined) {
    return -(logits[label] - logits[target]) / (sorted[0] - (sorted[2] + sorted[3]) / 2 + 1e-12);
  }
  const other = Math.max(...logits.filter((_, k) => k !== label));
  return -(logits[label] - other) / (sorted[0] - sorted[2] + 1e-12);
}
