/**
 * Square Attack (Andriushchenko et al. 2020), L-infinity, untargeted, as in AutoAttack: a
 * black-box random search that uses the model's logits only, never its gradients, so it is not
 * fooled by masked gradients. It starts from vertical stripes of +-epsilon and, per query, moves
 * one random square window of every channel to a random corner of the ball, keeping the move when
 * it lowers the margin z_label - max_{k != label} z_k. The window's side shrinks on AutoAttack's
 * schedule (p_init = 0.8 of the image area, halved at fixed shares of the query budget). An image
 * is fooled once its margin is negative; the attack stops for it there.
 *
 * The random choices are drawn per image, from (seed, the image's data index), so an image's
 * attack is the same in any batch. Candidates are built here and evaluated by one forward pass per
 * query for the images still robust.
 *
 * @example
 * ```ts
 * import type { AuditContext, GpuBatch } from "./gpu_batch.ts";
 * declare const ctx: AuditContext, batch: GpuBatch;
 * const { predictions, success } = await squareAttack(ctx, batch, 0.1, { queries: 5000 });
 * ```
 */
import { mulberry32 } from "../io/prng.ts";
import type { AuditContext, GpuBatch } from "./gpu_batch.ts";

export interface SquareSettings {
  /** Forward passes per image at most (AutoAttack: 5,000). */
  queries: number;
  /** The first window's share of the image area (AutoAttack: 0.8). */
  pInit?: number;
}

/** AutoAttack's Square settings. */
export const SQUARE_DEFAULTS: Readonly<Required<SquareSettings>> = Object.freeze({ queries: 5000, pInit: 0.8 });

/** The window's share of the image area at query `q` of `queries` (AutoAttack's schedule, for 10,000 queries rescaled). */
export function squareShare(q: number, queries: number, pInit: number): number {
  const at = Math.floor((q / queries) * 10000);
  const bounds = [10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000];
  const halvings = bounds.filter((b) => at > b).length;
  return pInit / 2 ** halvings;
}

export interface SquareResult {
  predictions: Uint32Array;
  success: boolean[];
  /** Forward passes spent per image (its first evaluation included). */
  queries: number[];
  /** The best point of each image, NCHW. */
  images: Float32Array;
}

/** Runs Square on every image of a batch at one epsilon. */
export async function squareAttack(
  ctx: AuditContext,
  batch: GpuBatch,
  epsilon: number,
  settings: SquareSettings,
): Promise<SquareResult> {
  const { queries } = settings;
  const pInit = settings.pInit ?? SQUARE_DEFAULTS.pInit;
  if (!(queries >= 1)) throw new RangeError(`square: queries must be >= 1, got ${queries}`);
  const n = batch.count;
  const [channels, height, width] = batch.host.shape;
  const plane = height * width, per = channels * plane;
  const [lo, hi] = ctx.range;
  const clean = batch.host.images;
  const labels = batch.host.labels;
  const randoms = batch.host.indices.map((index) =>
    mulberry32((Math.imul(ctx.seed ^ 0x51a3e, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca77)) >>> 0)
  );
  const clip = (i: number, k: number, sign: number) => Math.min(hi, Math.max(lo, clean[i * per + k] + sign * epsilon));
  const best = new Float32Array(n * per);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < channels; c++) {
      for (let col = 0; col < width; col++) {
        const sign = randoms[i]() < 0.5 ? -1 : 1;
        for (let row = 0; row < height; row++) {
          const k = c * plane + row * width + col;
          best[i * per + k] = clip(i, k, sign);
        }
      }
    }
  }
  const first = await margins(ctx, best, n, per, labels, Array.from({ length: n }, (_, i) => i));
  const margin = first.margin;
  const predictions = first.predictions;
  const used = new Array<number>(n).fill(1);
  for (let q = 1; q < queries; q++) {
    const active = Array.from({ length: n }, (_, i) => i).filter((i) => margin[i] >= 0);
    if (active.length === 0) break;
    const side = Math.min(Math.max(Math.round(Math.sqrt(squareShare(q, queries, pInit) * plane)), 1), height, width);
    const candidates = new Float32Array(active.length * per);
    active.forEach((i, a) => {
      const random = randoms[i];
      const top = Math.floor(random() * (height - side + 1)), left = Math.floor(random() * (width - side + 1));
      const image = candidates.subarray(a * per, (a + 1) * per);
      image.set(best.subarray(i * per, (i + 1) * per));
      // Redraw the signs a few times when the window would not change (AutoAttack does too).
      for (let tries = 0; tries < 8; tries++) {
        let changed = false;
        for (let c = 0; c < channels; c++) {
          const sign = random() < 0.5 ? -1 : 1;
          for (let row = top; row < top + side; row++) {
            for (let col = left; col < left + side; col++) {
              const k = c * plane + row * width + col;
              image[k] = clip(i, k, sign);
              if (Math.abs(image[k] - best[i * per + k]) > 1e-7) changed = true;
            }
          }
        }
        if (changed) break;
      }
    });
    const tried = await margins(ctx, candidates, active.length, per, labels, active);
    active.forEach((i, a) => {
      used[i]++;
      if (!(tried.margin[a] < margin[i])) return;
      margin[i] = tried.margin[a];
      predictions[i] = tried.predictions[a];
      best.set(candidates.subarray(a * per, (a + 1) * per), i * per);
    });
  }
  return { predictions, success: Array.from(margin, (m) => m < 0), queries: used, images: best };
}

/** The margins z_label - max_{k != label} z_k and top-1 classes of `count` images. */
async function margins(
  ctx: AuditContext,
  images: Float32Array,
  count: number,
  per: number,
  labels: ArrayLike<number>,
  positions: number[],
): Promise<{ margin: Float64Array; predictions: Uint32Array }> {
  const gpu = ctx.exec.gpu;
  using x = gpu.tensor([count, ...ctx.exec.graph.input.shape], images.subarray(0, count * per));
  let logits!: ReturnType<typeof ctx.exec.forward>;
  await gpu.run((step) => {
    logits = ctx.exec.forward(step, x);
  });
  using _logits = logits;
  const z = await gpu.read(logits);
  const classes = z.length / count;
  const margin = new Float64Array(count);
  const predictions = new Uint32Array(count);
  for (let a = 0; a < count; a++) {
    const row = z.subarray(a * classes, (a + 1) * classes);
    const label = labels[positions[a]];
    let other = -Infinity, top = 0;
    row.forEach((v, k) => {
      if (k !== label && v > other) other = v;
      if (v > row[top]) top = k;
    });
    margin[a] = row[label] - other;
    predictions[a] = top;
  }
  return { margin, predictions };
}
