/**
 * The sanity checks' similarity measures and intervals against independent references: SSIM and
 * HOG against scikit-image, Spearman's rho against scipy (Debian's /usr/bin/python3), the
 * bootstrap interval against the exact bootstrap distribution enumerated by hand.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { bootstrapMean } from "../pipeline/explain/bootstrap.ts";
import { hog, hogCell, hogSimilarity } from "../pipeline/explain/hog.ts";
import { spearman } from "../pipeline/explain/rank.ts";
import { ssim, ssimRadius } from "../pipeline/explain/ssim.ts";
import { runPython } from "./python_reference.ts";

interface MapPair {
  height: number;
  width: number;
  a: number[];
  b: number[];
}

/**
 * Pairs of maps: dense noise, and sparse maps (mostly zeros, as saliency on a black background),
 * some sides not a multiple of the HOG cell, some below SSIM's 11-pixel window.
 */
const PAIRS: MapPair[] = fc.sample(
  fc.record({ height: fc.integer({ min: 5, max: 33 }), width: fc.integer({ min: 5, max: 33 }), sparse: fc.boolean() })
    .chain(({ height, width, sparse }) => {
      // Thousandths, as a float32 map's values: no subnormals, which skimage's single-precision cell sums flush to 0.
      const thousandths = (min: number) => fc.integer({ min, max: 1000 }).map((k) => k / 1000);
      const value = sparse ? fc.oneof(fc.constant(0), fc.constant(0), thousandths(0)) : thousandths(-1000);
      const map = fc.array(value, { minLength: height * width, maxLength: height * width });
      return fc.record({ height: fc.constant(height), width: fc.constant(width), a: map, b: map });
    }),
  { numRuns: 12, seed: 20 },
);

const REFERENCE = `
import json, sys
import numpy as np
from scipy.stats import spearmanr
from skimage.feature import hog
from skimage.metrics import structural_similarity
out = []
for p in json.load(open(sys.argv[1])):
    a = np.array(p["a"], dtype=np.float64).reshape(p["height"], p["width"])
    b = np.array(p["b"], dtype=np.float64).reshape(p["height"], p["width"])
    lo, hi = min(a.min(), b.min()), max(a.max(), b.max())
    cell = p["cell"]
    out.append({
        "ssim": structural_similarity(a, b, gaussian_weights=True, sigma=0.3 * p["radius"], win_size=2 * p["radius"] + 1,
                                      use_sample_covariance=False, data_range=hi - lo if hi > lo else 1.0),
        "range": hi - lo if hi > lo else 1.0,
        "hog": hog(a, orientations=9, pixels_per_cell=(cell, cell), cells_per_block=(2, 2),
                   block_norm="L2-Hys").tolist() if p["height"] >= 2 * cell and p["width"] >= 2 * cell else None,
        "spearman": spearmanr(a.ravel(), b.ravel()).correlation,
    })
print(json.dumps(out))
`;

Deno.test("sanity similarity: SSIM and HOG match scikit-image, Spearman's rho matches scipy", async () => {
  const cells = PAIRS.map((p, i) => Math.max(1, hogCell(p.height, p.width) - (i % 2)));
  const file = await Deno.makeTempFile({ suffix: ".json" });
  try {
    await Deno.writeTextFile(
      file,
      JSON.stringify(PAIRS.map((p, i) => ({ ...p, cell: cells[i], radius: ssimRadius(Math.min(p.height, p.width)) }))),
    );
    const reference = JSON.parse(await runPython(REFERENCE, [file]));
    PAIRS.forEach((p, i) => {
      const want = reference[i];
      const got = ssim(p.a, p.b, p.height, p.width, want.range);
      assert.ok(Math.abs(got - want.ssim) < 1e-9, `pair ${i}: SSIM ${got}, skimage ${want.ssim}`);
      const rho = spearman(p.a, p.b);
      assert.ok(Math.abs(rho - want.spearman) < 1e-9, `pair ${i}: rho ${rho}, scipy ${want.spearman}`);
      if (want.hog === null) return;
      const descriptor = hog(p.a, p.height, p.width, { cell: cells[i] });
      assert.equal(descriptor.length, want.hog.length, `pair ${i}: HOG length`);
      // skimage sums each cell's magnitudes in single precision: agreement to 1e-5.
      const worst = descriptor.reduce((m, v, k) => Math.max(m, Math.abs(v - want.hog[k])), 0);
      assert.ok(worst < 1e-5, `pair ${i}: HOG differs from skimage by ${worst}`);
    });
  } finally {
    await Deno.remove(file);
  }
  const map = PAIRS[0].a;
  assert.ok(Math.abs(ssim(map, map, PAIRS[0].height, PAIRS[0].width) - 1) < 1e-12, "SSIM of a map with itself is 1");
  assert.ok(Math.abs(hogSimilarity(map, map, PAIRS[0].height, PAIRS[0].width) - 1) < 1e-12);
});

/** The exact bootstrap distribution of the mean: every one of the n^n equally likely resamples' mean, sorted. */
function exactBootstrapMeans(values: number[]): number[] {
  const n = values.length;
  const means: number[] = [];
  for (let code = 0; code < n ** n; code++) {
    let sum = 0;
    for (let k = 0, c = code; k < n; k++, c = Math.floor(c / n)) sum += values[c % n];
    means.push(sum / n);
  }
  return means.sort((a, b) => a - b);
}

Deno.test("sanity similarity: the bootstrap interval's ends are the exact bootstrap distribution's 5% and 95% points", () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: -1000, max: 1000 }).map((k) => k / 1000), { minLength: 3, maxLength: 5 }),
      fc.integer({ min: 0, max: 1000 }),
      (values, seed) => {
        const got = bootstrapMean(values, { resamples: 20000, level: 0.9, seed });
        const exact = exactBootstrapMeans(values);
        // The exact distribution is discrete: a q-point has at most q of the mass strictly below it
        // and at least q at or below it, to the Monte Carlo error of 20,000 resamples (sd 0.0015).
        const below = (x: number) => exact.filter((m) => m < x - 1e-12).length / exact.length;
        const atOrBelow = (x: number) => exact.filter((m) => m <= x + 1e-12).length / exact.length;
        for (const [end, q] of [[got.low, 0.05], [got.high, 0.95]]) {
          assert.ok(below(end) <= q + 0.01 && atOrBelow(end) >= q - 0.01, `${end}: ${below(end)}, ${atOrBelow(end)}`);
        }
        assert.ok(Math.abs(got.mean - values.reduce((s, v) => s + v, 0) / values.length) < 1e-12);
      },
    ),
    { numRuns: 20 },
  );
  assert.deepEqual(bootstrapMean([0.3, 0.3, 0.3]), { mean: 0.3, low: 0.3, high: 0.3 });
});
