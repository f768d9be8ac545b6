import assert from "node:assert/strict";
import { type FlagInput, trustFlags } from "../pipeline/audit/trust_checks.ts";
import { medianWithUnflipped } from "../pipeline/audit/robustness.ts";

const quiet: FlagInput = {
  count: 100,
  epsilons: [0, 0.1, 0.2],
  nearZeroGradient: [],
  unstableLogits: [],
  probabilityOutputs: [],
  fgsmRaw: [
    { epsilon: 0, accuracy: 0.9, successRate: 0 },
    { epsilon: 0.1, accuracy: 0.5, successRate: 0.44 },
    { epsilon: 0.2, accuracy: 0.2, successRate: 0.78 },
  ],
  unflipped: [[], []],
  squareOnly: [[], [], []],
};

Deno.test("no flag on clean evidence; each flag fires on its own evidence and names its images", () => {
  assert.deepEqual(trustFlags(quiet), []);
  const checks = (input: Partial<FlagInput>) => trustFlags({ ...quiet, ...input });
  // 1 of 100 near zero is within the 1% allowed; 2 are not.
  assert.deepEqual(checks({ nearZeroGradient: [4] }), []);
  const near = checks({ nearZeroGradient: [9, 4] });
  assert.deepEqual(near.map((f) => [f.check, f.images, f.count]), [["near-zero-gradient", [4, 9], 2]]);
  assert.match(near[0].message, /near zero relative to their loss.*\(images 4, 9\)/);

  const random = checks({ unstableLogits: [7] });
  assert.deepEqual(random.map((f) => [f.check, f.images]), [["randomised", [7]]]);
  assert.match(random[0].message, /two identical forward passes/);

  assert.deepEqual(checks({ probabilityOutputs: Array.from({ length: 50 }, (_, i) => i) }), []); // half: not more
  const softmax = checks({ probabilityOutputs: Array.from({ length: 51 }, (_, i) => i) });
  assert.equal(softmax[0].check, "softmax-output");
  assert.equal(softmax[0].count, 51);
  assert.match(softmax[0].message, /sum to 1.*softmax/);

  // The raw FGSM accuracy rises from 0.1 to 0.2: the images that came back are named.
  const rising = checks({
    fgsmRaw: [quiet.fgsmRaw![0], quiet.fgsmRaw![1], { epsilon: 0.2, accuracy: 0.6, successRate: 0.33 }],
    unflipped: [[], [12, 3]],
  });
  assert.deepEqual(rising.map((f) => [f.check, f.images]), [["fgsm-not-monotone", [3, 12]]]);
  assert.match(rising[0].message, /0\.1 -> 0\.2: 50\.0% -> 60\.0%/);
  // A rise within the 1% slack is not flagged.
  const flat = [quiet.fgsmRaw![0], quiet.fgsmRaw![1], { epsilon: 0.2, accuracy: 0.505, successRate: 0.44 }];
  assert.deepEqual(checks({ fgsmRaw: flat, unflipped: [[], [3]] }), []);

  const square = checks({ squareOnly: [[], [5], [5, 8]] });
  assert.deepEqual(square.map((f) => [f.check, f.images, f.count]), [["square-beats-white-box", [5, 8], 2]]);
  assert.match(square[0].message, /1 at 0\.1, 2 at 0\.2/);
});

Deno.test("a flag lists at most 100 images but counts them all; its message shows the first 10", () => {
  const many = Array.from({ length: 150 }, (_, i) => 149 - i);
  const [flag] = trustFlags({ ...quiet, count: 1000, unstableLogits: many });
  assert.equal(flag.count, 150);
  assert.deepEqual(flag.images, Array.from({ length: 100 }, (_, i) => i));
  assert.match(flag.message, /images 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, \.\.\. \(150 in all\)/);
});

Deno.test("the median over all attacked images counts the unflipped as above the sweep", () => {
  assert.equal(medianWithUnflipped([0.1, 0.3, 0.2], 0), 0.2);
  assert.equal(medianWithUnflipped([0.1, 0.3], 1), 0.3); // 0.1, 0.3, above
  assert.equal(medianWithUnflipped([0.1, 0.3], 2), null); // 0.1, 0.3, above, above: between 0.3 and above
  assert.equal(medianWithUnflipped([0.1], 1), null);
  assert.equal(medianWithUnflipped([0.1, 0.2, 0.4, 0.5], 1), 0.4);
  assert.equal(medianWithUnflipped([], 0), null);
});
