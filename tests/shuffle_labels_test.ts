import assert from "node:assert/strict";
import fc from "fast-check";
import { shuffledLabels } from "../pipeline/train/shuffle_labels.ts";

Deno.test("shuffle labels: the same labels in a seeded order, most of them moved off their image", () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 200, maxLength: 400 }),
      fc.integer({ min: 0, max: 2 ** 32 - 1 }),
      (values, seed) => {
        const labels = Int32Array.from(values);
        const shuffled = shuffledLabels(labels, seed);
        assert.deepEqual([...shuffled].sort(), [...labels].sort(), "the class counts are the data's");
        assert.deepEqual(shuffledLabels(labels, seed), shuffled, "seeded");
        assert.deepEqual([...labels], values, "the input is left as is");
        // A label stays on its image with probability sum_k p_k^2 (about 0.1 for ten balanced classes).
        const counts = new Map<number, number>();
        for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
        const stay = [...counts.values()].reduce((a, c) => a + (c / values.length) ** 2, 0);
        const kept = shuffled.filter((v, i) => v === labels[i]).length / values.length;
        assert.ok(Math.abs(kept - stay) < 0.15, `${kept} kept, ${stay} expected`);
      },
    ),
    { numRuns: 30 },
  );
});
