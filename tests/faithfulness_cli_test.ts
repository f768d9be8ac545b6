/**
 * The default audit (the shipped digits model on mnist), cut to a few images, carries the
 * faithfulness table: every saliency method ranked, each metric a mean inside its interval, curves
 * that start (deletion) and end (insertion) at the probability the evaluation stage reported for
 * the same images, the table in index.html and the ranking in the summary; `--faithfulness-images 0`
 * leaves them out.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { SALIENCY_METHODS } from "../pipeline/explain/saliency.ts";
import { FAITHFULNESS_METRICS, type FaithfulnessMetric } from "../pipeline/schema/faithfulness.ts";
import { type AuditReport, AuditReportSchema } from "../pipeline/schema/report.ts";
import { runCli } from "./cli_helpers.ts";

/** The default audit's model and data, everything but the explanations cut short. */
const SMALL = [
  ...["--limit", "24", "--epsilons", "0,0.1", "--apgd-steps", "2", "--attack-sample", "4", "--skip-min-epsilon"],
  ...["--shown", "2", "--sanity-images", "0", "--prototypes", "0", "--study", "0", "--quiet"],
];

async function audit(flags: string[]): Promise<{ report: AuditReport; html: string; stdout: string }> {
  const out = join(await Deno.makeTempDir({ prefix: "faithfulness-cli-" }), "audit");
  const result = await runCli("audit", [...SMALL, ...flags, "--out", out]);
  assert.equal(result.code, 0, result.stderr);
  const report = AuditReportSchema.parse(JSON.parse(await Deno.readTextFile(join(out, "report.json"))));
  return { report, html: await Deno.readTextFile(join(out, "index.html")), stdout: result.stdout };
}

Deno.test("faithfulness CLI: the default audit's report ranks every saliency method with intervals", async () => {
  const { report, html, stdout } = await audit([]);
  const f = report.faithfulness!;
  assert.equal(f.images, 8);
  assert.equal(new Set(f.indices).size, 8);
  assert.deepEqual(f.methods.map((m) => m.method).sort(), [...SALIENCY_METHODS].sort());
  assert.deepEqual(f.methods.map((m) => m.rank), SALIENCY_METHODS.map((_, i) => i + 1));
  assert.equal(f.fractions.length, f.steps + 1);
  const metrics = Object.keys(FAITHFULNESS_METRICS) as FaithfulnessMetric[];
  // The clean images' top-1 probability, as the evaluation stage computed it.
  const byIndex = new Map(report.images.map((im) => [im.index, im]));
  const clean = f.indices.reduce((s, i) => s + byIndex.get(i)!.probs[0], 0) / f.indices.length;
  for (const m of f.methods) {
    for (const metric of metrics) {
      const v = m[metric]!;
      assert.ok(v.lo <= v.mean + 1e-12 && v.mean <= v.hi + 1e-12, `${m.method} ${metric}: ${JSON.stringify(v)}`);
      assert.ok(v.n === 8 && m.ranks[metric] >= 1 && m.ranks[metric] <= SALIENCY_METHODS.length);
    }
    assert.ok(m.correlation!.lo >= -1 && m.correlation!.hi <= 1);
    assert.ok(Math.abs(m.deletionCurve[0] - clean) < 1e-4, `${m.method}: ${m.deletionCurve[0]} vs ${clean}`);
    assert.ok(Math.abs(m.insertionCurve[f.steps] - clean) < 1e-4, `${m.method}: insertion ends at the image`);
    assert.ok(m.deletionCurve[f.steps] < m.deletionCurve[0], `${m.method}: a black image loses the answer`);
  }
  assert.ok(report.timings.faithfulness > 0);
  assert.match(html, /<table id="faithfulness-table">/);
  for (const method of SALIENCY_METHODS) assert.ok(html.includes(`data-key="${method}"`), method);
  // The summary table names the ranking.
  assert.match(
    stdout,
    new RegExp(`faithfulness +ranked on 8 images: 1 ${f.methods[0].method}, 2 ${f.methods[1].method}`),
  );

  const off = await audit(["--faithfulness-images", "0"]);
  assert.equal(off.report.faithfulness, null);
  assert.doesNotMatch(off.html, /faithfulness-table/);
  assert.doesNotMatch(off.stdout, /ranked on/);
});
