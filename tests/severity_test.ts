import assert from "node:assert/strict";
import fc from "fast-check";
import { parseHTML } from "linkedom";
import type { ImagePrediction } from "../pipeline/audit/evaluate.ts";
import { RobustnessAccumulator } from "../pipeline/audit/robustness.ts";
import { flipSeverity, hierarchyFigures, mistakeSeverity } from "../pipeline/audit/severity.ts";
import { Hierarchy, type HierarchyNode } from "../pipeline/model/hierarchy.ts";
import { hierarchySection } from "../pipeline/report/sections/hierarchy.ts";
import type { AuditReport } from "../pipeline/schema/report.ts";

/**
 * root ─┬─ A ─┬─ A1 ─┬─ a      depths: a 3, b 3, c 2, d 1
 *       │     │      └─ b
 *       │     └─ c
 *       └─ d
 */
const TREE: HierarchyNode = {
  name: "root",
  children: [
    { name: "A", children: [{ name: "A1", children: [{ name: "a" }, { name: "b" }] }, { name: "c" }] },
    { name: "d" },
  ],
};
const CLASSES = ["a", "b", "c", "d"];
const [a, b, c, d] = [0, 1, 2, 3];

const prediction = (index: number, label: number, predicted: number): ImagePrediction => ({
  index,
  label,
  top: [predicted, ...[0, 1, 2, 3].filter((k) => k !== predicted)],
  probs: [0.7, 0.1, 0.1, 0.1],
});

Deno.test("within-depth shares and severities by hand on a four-class tree", () => {
  const h = Hierarchy.fromJson(TREE, CLASSES, "tree");
  // label -> prediction: LCA, severity = depth(label) - LCA depth
  const predictions = [
    prediction(0, a, b), // A1 (2): 3 - 2 = 1
    prediction(1, a, c), // A (1): 3 - 1 = 2
    prediction(2, c, a), // A (1): 2 - 1 = 1
    prediction(3, d, a), // root (0): 1 - 0 = 1
    prediction(4, a, d), // root (0): 3 - 0 = 3
    prediction(5, b, b), // right
    prediction(6, c, c), // right
  ];
  const figures = hierarchyFigures(predictions, h);
  assert.equal(figures.source, "tree");
  assert.equal(figures.rule, null);
  assert.deepEqual(figures.depths, [
    { depth: 1, mistakesWithin: 3, share: 3 / 5, examples: [{ name: "A", mistakes: 3 }] },
    { depth: 2, mistakesWithin: 1, share: 1 / 5, examples: [{ name: "A1", mistakes: 1 }] },
  ]);
  assert.deepEqual(figures.severity, {
    mistakes: 5,
    mean: 8 / 5,
    histogram: [0, 3, 1, 1],
    perClass: [
      { label: a, mistakes: 3, mean: 2 },
      { label: c, mistakes: 1, mean: 1 },
      { label: d, mistakes: 1, mean: 1 },
    ],
  });
  // No mistakes: nothing to average.
  const none = hierarchyFigures([prediction(0, a, a)], h);
  assert.equal(none.severity.mean, null);
  assert.deepEqual(none.depths.map((x) => x.share), [null, null]);
});

Deno.test("flips carry their mean severity per curve point; the figures take the chosen attack's last point", () => {
  const h = Hierarchy.fromJson(TREE, CLASSES, "tree");
  const settings = {
    epsilons: [0, 0.1],
    attack: "fgsm" as const,
    pgd: { steps: 10, stepFraction: 0.25, randomStart: true },
    resolution: 0,
    depth: 1,
  };
  const acc = new RobustnessAccumulator(settings, h, 1);
  const labels = [a, c, d, b];
  // a -> c (severity 2), c holds, d -> a (severity 1), b holds.
  const sweep = [Uint32Array.from(labels), Uint32Array.from([c, c, a, b])];
  acc.add({ indices: [0, 1, 2, 3], labels, clean: labels, zeroGradients: 0, sweeps: { fgsm: sweep }, minEpsilons: [] });
  const summary = acc.finish();
  assert.deepEqual(summary.curve.map((p) => p.meanSeverity), [null, 3 / 2]);
  assert.deepEqual(flipSeverity(summary), { attack: "fgsm", epsilon: 0.1, flips: 2, meanSeverity: 3 / 2 });
  assert.equal(flipSeverity({ attack: "fgsm", curve: [summary.curve[0]] }), null);
});

/** A random tree as a parent array (node i + 1 under parents[i]) with its leaves as classes. */
const treeArb = fc.integer({ min: 3, max: 12 })
  .chain((n) => fc.tuple(...Array.from({ length: n - 1 }, (_, i) => fc.integer({ min: 0, max: i }))))
  .map((parents) => {
    const node = (id: number): HierarchyNode => {
      const kids = parents.flatMap((p, i) => (p === id ? [node(i + 1)] : []));
      return kids.length > 0 ? { name: `n${id}`, children: kids } : { name: `n${id}` };
    };
    const inner = new Set(parents);
    const leaves = parents.map((_, i) => i + 1).filter((i) => !inner.has(i)).map((i) => `n${i}`);
    return { json: node(0), classes: leaves };
  })
  .filter((t) => t.classes.length >= 2);

const caseArb = treeArb.chain((tree) =>
  fc.record({
    tree: fc.constant(tree),
    pairs: fc.array(
      fc.tuple(fc.nat({ max: tree.classes.length - 1 }), fc.nat({ max: tree.classes.length - 1 })),
      { minLength: 1, maxLength: 30 },
    ),
  })
);

Deno.test("severity is 0 exactly for a right answer; within-depth shares never grow with depth", () => {
  fc.assert(
    fc.property(caseArb, ({ tree, pairs }) => {
      const h = Hierarchy.fromJson(tree.json, tree.classes, "random");
      for (let x = 0; x < tree.classes.length; x++) {
        for (let y = 0; y < tree.classes.length; y++) {
          assert.equal(mistakeSeverity(h, x, y) === 0, x === y, `severity(${x}, ${y})`);
          assert.ok(mistakeSeverity(h, x, y) <= h.depth(x));
        }
      }
      const predictions = pairs.map(([label, predicted], i): ImagePrediction => ({
        index: i,
        label,
        top: [predicted],
        probs: [1],
      }));
      const figures = hierarchyFigures(predictions, h);
      const mistakes = pairs.filter(([l, p]) => l !== p).length;
      assert.equal(figures.severity.histogram.reduce((s, n) => s + n, 0), mistakes);
      assert.equal(figures.severity.histogram[0], 0);
      assert.equal(figures.depths.length, Math.max(0, h.maxDepth - 1));
      figures.depths.forEach((x, k) => {
        if (k > 0) assert.ok(x.mistakesWithin <= figures.depths[k - 1].mistakesWithin, `depth ${x.depth}`);
        assert.ok(x.examples.reduce((s, e) => s + e.mistakes, 0) <= x.mistakesWithin);
      });
    }),
    { numRuns: 200 },
  );
});

Deno.test("the hierarchy section: depth rows, the 20 most severe classes first, names as text", () => {
  const classes = Array.from({ length: 30 }, (_, i) => (i === 7 ? `<script>alert(${i})</script>` : `class ${i}`));
  const report = { model: { classes } } as unknown as AuditReport;
  const perClass = classes.map((_, label) => ({ label, mistakes: 2, mean: label === 7 ? 9 : 1 + label / 100 }));
  const { id, body } = hierarchySection(report, {
    source: "WordNet 3.0 (data.noun)",
    rule: "shortest path",
    depths: [
      { depth: 1, mistakesWithin: 60, share: 1, examples: [{ name: "physical entity", mistakes: 60 }] },
      { depth: 2, mistakesWithin: 30, share: 0.5, examples: [] },
    ],
    severity: { mistakes: 60, mean: 1.5, histogram: [0, 40, 20], perClass },
    adversarial: { attack: "pgd", epsilon: 0.03, flips: 12, meanSeverity: 2.25 },
  });
  assert.equal(id, "hierarchy");
  // deno-lint-ignore no-explicit-any
  const document = (parseHTML(`<html><body>${body}</body></html>`) as unknown as { document: any }).document;
  assert.equal(document.querySelectorAll("#hierarchy-depths tbody tr").length, 2);
  const worst = [...document.querySelectorAll("#hierarchy-worst tbody tr")]
    .map((r) => r.getAttribute("data-key"));
  assert.deepEqual(worst, ["7", ...Array.from({ length: 19 }, (_, k) => String(29 - k))]);
  assert.equal(document.querySelector("script"), null);
  assert.ok(document.querySelector("#hierarchy-worst").textContent.includes("<script>alert(7)</script>"));
  assert.ok(body.toString().includes("2.25") && body.toString().includes("12 PGD flips"));
});
