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
