/**
 * `deno task audit --model X.onnx` end to end on torchvision families at 224x224, as a user runs
 * it on an ImageNet folder: each family of AUDITED exported by torch.onnx.export with seeded random
 * weights and 1,000 WordNet classes, scikit-image's six photos as the validation folder (half of
 * them labelled with PyTorch's own top-1, so the audit has right and wrong answers), WordNet as the
 * hierarchy. The report's top-5 classes and probabilities per image must be PyTorch's on the same
 * JPEGs through torchvision's Resize(256) and CenterCrop(224), and its accuracy must follow.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { AuditReportSchema } from "../pipeline/schema/report.ts";
import { errorLines, runCli } from "./cli_helpers.ts";
import { auditPhotos, exportFamilies, FAMILIES, type Family, familyFiles } from "./torchvision_families.ts";

/**
 * The families audited end to end: MobileNetV2, or those `AUDITED` names (comma-separated, or `all`);
 * each adds one to three minutes on llvmpipe at 224x224.
 */
const AUDITED: Family[] = auditedFamilies(Deno.env.get("AUDITED"));

function auditedFamilies(names: string | undefined): Family[] {
  if (!names) return ["mobilenet_v2"];
  if (names === "all") return [...FAMILIES];
  const unknown = names.split(",").filter((name) => !(FAMILIES as readonly string[]).includes(name));
  if (unknown.length > 0) throw new Error(`AUDITED: ${unknown.join(", ")} not among ${FAMILIES.join(", ")}`);
  return names.split(",") as Family[];
}

/** Probabilities agree to this share of PyTorch's (float64 reference, float32 run). */
const PROBABILITY_TOLERANCE = 1e-3;

for (const family of AUDITED) {
  Deno.test(`audit end to end: torchvision ${family} at 224x224 on an ImageNet folder gives PyTorch's predictions`, async () => {
    const { dir, entries } = await exportFamilies("full", [family]);
    assert.ok(!("error" in entries[family]), `${family}: ${JSON.stringify(entries[family])}`);
    const expected = await auditPhotos(dir, family);
    const out = join(dir, "report");
    const result = await runCli("audit", [
      ...["--model", familyFiles(dir, family).onnx, "--data", `imagenet:${join(dir, "val")}`, "--out", out],
      ...["--hierarchy", "wordnet", "--superclass-depth", "7", "--attack", "fgsm", "--epsilons", "0,0.002"],
      ...["--skip-min-epsilon", "--shown", "2", "--study", "2", "--sanity-images", "0", "--faithfulness-images", "0"],
      ...["--prototypes", "2", "--criticisms", "1", "--quiet"],
    ]);
    assert.equal(result.code, 0, errorLines(result).join("\n"));
    const report = AuditReportSchema.parse(JSON.parse(await Deno.readTextFile(join(out, "report.json"))));
    assert.deepEqual(report.images.map((image) => image.label), expected.map((e) => e.label));
    assert.deepEqual(report.images.map((image) => image.top), expected.map((e) => e.top));
    report.images.forEach((image, i) =>
      image.probs.forEach((p, k) => {
        const want = expected[i].probs[k];
        assert.ok(Math.abs(p - want) <= PROBABILITY_TOLERANCE * want, `image ${i}, top ${k}: ${p} against ${want}`);
      })
    );
    const right = expected.filter((e) => e.top[0] === e.label).length;
    assert.equal(report.accuracy.count, expected.length);
    assert.equal(report.accuracy.top1, right / expected.length);
    assert.equal(report.robustness.fgsm[0].accuracy, right / expected.length);
  });
}
