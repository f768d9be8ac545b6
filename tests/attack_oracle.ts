/** Float64 oracles of the attack kernels (attack_step.wgsl, attack_keep_best.wgsl). */

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

/** best and bestLoss after keeping each image whose direction * loss improved on bestLoss. */
export function keepBestOracle(
  args: { x: Values; loss: Values; best: Values; bestLoss: Values; direction: 1 | -1 },
): { best: Float64Array; bestLoss: Float64Array } {
  const per = args.x.length / args.loss.length;
  const improved = Array.from(args.loss, (l, n) => args.direction * l > args.direction * args.bestLoss[n]);
  return {
    best: Float64Array.from(args.best, (b, i) => (improved[Math.floor(i / per)] ? args.x[i] : b)),
    bestLoss: Float64Array.from(args.bestLoss, (b, n) => (improved[n] ? args.loss[n] : b)),
  };
}
