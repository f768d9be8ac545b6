/**
 * Robustness of the shipped digits model (fixtures/models/digits, trained by `deno task train`),
 * through the audit command on the first 200 images of the mnist test split: an undefended
 * convnet falls to PGD at epsilon 0.3 and is dented by FGSM at 0.1.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { AuditReportSchema } from "../pipeline/schema/report.ts";
import { runCli } from "./cli_helpers.ts";

const DIGITS = new URL("../fixtures/models/digits", import.meta.url).pathname;

Deno.test("shipped digits model: PGD at epsilon 0.3 brings accuracy below 10%, FGSM at 0.1 lowers it", async () => {
  const out = join(await Deno.makeTempDir({ prefix: "shipped-robustness-" }), "audit");
  const result = await runCli("audit", [
    "--model",
    DIGITS,
    "--data",
    "mnist:test",
    "--limit",
    "200",
    "--epsilons",
    "0,0.1,0.3",
    "--skip-min-epsilon",
    "--out",
    out,
    "--json",
  ]);
  assert.equal(result.code, 0, result.stderr);
  const report = AuditReportSchema.parse(JSON.parse(result.stdout));
  const at = (curve: { epsilon: number; accuracy: number }[], epsilon: number) =>
    curve.find((p) => p.epsilon === epsilon)!.accuracy;
  const clean = report.accuracy.top1;
  assert.ok(clean >= 0.95, `clean accuracy ${clean}`);
  assert.equal(report.robustness.attack, "pgd");
  assert.ok(at(report.robustness.curve, 0.3) < 0.1, `PGD at 0.3: accuracy ${at(report.robustness.curve, 0.3)}`);
  const fgsm = at(report.robustness.fgsm, 0.1);
  assert.ok(fgsm <= clean - 0.05, `FGSM at 0.1: accuracy ${fgsm} vs clean ${clean}`);
});
