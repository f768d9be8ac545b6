/**
 * Robustness of the shipped digits model (fixtures/models/digits, trained by `deno task train`),
 * through the audit command on the first images of the mnist test split: an undefended convnet
 * falls to APGD-CE at epsilon 0.3 and is dented by FGSM at 0.1, and AutoAttack is at least as
 * strong as PGD at every epsilon.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type AuditReport, AuditReportSchema } from "../pipeline/schema/report.ts";
import { runCli } from "./cli_helpers.ts";

const DIGITS = new URL("../fixtures/models/digits", import.meta.url).pathname;

async function audit(limit: number, epsilons: string, flags: string[]): Promise<AuditReport> {
  const out = join(await Deno.makeTempDir({ prefix: "shipped-robustness-" }), "audit");
  const args = ["--model", DIGITS, "--data", "mnist:test", "--limit", String(limit), "--epsilons", epsilons];
  const result = await runCli("audit", [...args, "--skip-min-epsilon", ...flags, "--out", out, "--json"]);
  assert.equal(result.code, 0, result.stderr);
  return AuditReportSchema.parse(JSON.parse(result.stdout));
}

const at = (curve: { epsilon: number; accuracy: number }[], epsilon: number) =>
  curve.find((p) => p.epsilon === epsilon)!.accuracy;

Deno.test("shipped digits model: APGD-CE at epsilon 0.3 brings accuracy below 10%, FGSM at 0.1 lowers it", async () => {
  const report = await audit(200, "0,0.1,0.3", []);
  const clean = report.accuracy.top1;
  assert.ok(clean >= 0.95, `clean accuracy ${clean}`);
  assert.equal(report.robustness.attack, "apgd-ce");
  assert.ok(at(report.robustness.curve, 0.3) < 0.1, `APGD-CE at 0.3: accuracy ${at(report.robustness.curve, 0.3)}`);
  const fgsm = at(report.robustness.fgsm, 0.1);
  assert.ok(fgsm <= clean - 0.05, `FGSM at 0.1: accuracy ${fgsm} vs clean ${clean}`);
});

Deno.test("shipped digits model: AutoAttack is at least as strong as PGD at every epsilon", async () => {
  const epsilons = "0,0.05,0.1,0.2";
  const quick = ["--saliency", "none", "--prototypes", "0"];
  const pgd = await audit(40, epsilons, ["--attack", "pgd", ...quick]);
  const aa = await audit(40, epsilons, [
    "--attack",
    "autoattack",
    "--apgd-steps",
    "20",
    "--square-queries",
    "100",
    "--fab-steps",
    "20",
    ...quick,
  ]);
  assert.deepEqual(aa.robustness.ensemble, ["apgd-ce", "apgd-t", "fab-t", "square"]);
  for (const point of pgd.robustness.curve) {
    const ensemble = at(aa.robustness.curve, point.epsilon);
    assert.ok(ensemble <= point.accuracy, `epsilon ${point.epsilon}: AutoAttack ${ensemble} vs PGD ${point.accuracy}`);
    // Each attack of the ensemble can only lower the robust accuracy.
    const stages: number[] = aa.robustness.ensemble!.map((name) => at(aa.robustness.curves![name], point.epsilon));
    assert.deepEqual(stages, [...stages].sort((a, b) => b - a), `epsilon ${point.epsilon}: ${stages}`);
  }
  // The undefended model falls at 0.1 to well below PGD-10's figure there.
  assert.ok(at(aa.robustness.curve, 0.1) < at(pgd.robustness.curve, 0.1), "AutoAttack no stronger at 0.1");
});
