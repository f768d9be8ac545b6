import assert from "node:assert/strict";
import { join } from "node:path";
import { audit } from "../pipeline/audit/audit.ts";
import { InputError } from "../pipeline/io/input_error.ts";
import type { Hierarchy } from "../pipeline/model/hierarchy.ts";
import { saveModelFolder } from "../pipeline/model/model_folder.ts";
import { wordnetHierarchy } from "../pipeline/model/wordnet.ts";
import { AuditReportSchema } from "../pipeline/schema/report.ts";
import { bars, linearModel, writeIdx } from "./audit_fixture.ts";
import { gpuTest } from "./gpu_fixture.ts";

/** The reference: tests/imagenet_fixture.py, which parses all of data.noun its own way (see `reference` there). */
const FIXTURE = new URL("./imagenet_fixture.py", import.meta.url).pathname;

interface Reference {
  paths: Record<string, [string, string][]>;
  ways: Record<string, number>;
  tie: { wnid: string; tied: [string, string][] };
  instance: string;
  all_reach_entity: boolean;
}

async function reference(wnids: string[]): Promise<Reference> {
  const child = new Deno.Command("/usr/bin/python3", { args: [FIXTURE, "reference"], stdin: "piped", stdout: "piped" })
    .spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(JSON.stringify({ wnids })));
  await writer.close();
  const { code, stdout } = await child.output();
  assert.equal(code, 0, "the Python reference ran");
  return JSON.parse(new TextDecoder().decode(stdout));
}

const TABBY = "n02123045", TIGER_CAT = "n02123159", DOMESTIC_CAT = "n02121808";
/** Tabby, tiger cat, coffee mug, space shuttle, motorcycle, and domestic cat, the ancestor of the first two. */
const WNIDS = [TABBY, TIGER_CAT, "n03063599", "n04266014", "n03790512", DOMESTIC_CAT];

/**
 * The expected tree path of each class, as [node key, name] from entity: its synset's reference
 * path, plus a leaf of its own when its synset is another class's ancestor (the module's rule).
 */
function expectedPaths(ref: Reference, wnids: string[]): [string, string][][] {
  return wnids.map((w) => {
    const path = ref.paths[w];
    const isAncestor = wnids.some((o) => o !== w && ref.paths[o].some(([p]) => p === w));
    return isAncestor ? [...path, [`leaf ${w}`, path.at(-1)![1]]] : path;
  });
}

function sharedDepth(a: [string, string][], b: [string, string][]): number {
  let k = 0;
  while (k < a.length && k < b.length && a[k][0] === b[k][0]) k++;
  return k - 1;
}

/** Every depth, ancestor name, LCA depth and LCA height of `h` against the expected paths. */
function assertTree(h: Hierarchy, expected: [string, string][][], what: string): void {
  expected.forEach((path, i) => {
    assert.equal(h.depth(i), path.length - 1, `${what}: depth of ${path.at(-1)![1]}`);
    path.forEach(([, name], d) => assert.equal(h.superclass(i, d), name, `${what}: ancestor ${d} of class ${i}`));
    expected.forEach((other, j) => {
      const lca = sharedDepth(path, other);
      assert.equal(h.lcaDepth(i, j), lca, `${what}: LCA depth of ${i}, ${j}`);
      assert.equal(h.lcaHeight(i, j), path.length - 1 - lca, `${what}: LCA height of ${i}, ${j}`);
    });
  });
  assert.equal(h.maxDepth, Math.max(...expected.map((p) => p.length - 1)));
}

const refPromise = reference(WNIDS);

Deno.test("WordNet tree for ImageNet wnids: depths, names and LCAs equal a full-parse reference of its own", async () => {
  const ref = await refPromise;
  assert.ok(ref.all_reach_entity, "every noun synset of WordNet 3.0 reaches entity");
  // The classes have several ways up (tabby: via feline and via domestic animal), so the rule matters.
  assert.ok(ref.ways[TABBY] >= 2 && ref.ways["n03790512"] >= 2, JSON.stringify(ref.ways));
  const names = ["tabby, tabby cat", "tiger cat", "coffee mug", "space shuttle", "motorcycle", "domestic cat"];
  const h = await wordnetHierarchy(WNIDS, names);
  const expected = expectedPaths(ref, WNIDS);
  assertTree(h, expected, "model order");
  assert.deepEqual(h.classes, names);
  assert.equal(h.superclass(0, 0), "entity");
  assert.equal(h.lcaHeight(0, 1), 1, "tabby and tiger cat are siblings under domestic cat");
  assert.equal(h.lcaHeight(5, 0), 1, "domestic cat's own leaf sits beside tabby, under its synset");
  assert.equal(h.superclass(5, h.depth(5) - 1), "domestic cat");
  assert.match(h.rule!, /longest hypernym path .* smaller synset offset/);
  // Another class order gives the same tree.
  const order = [3, 5, 0, 4, 2, 1];
  const shuffled = await wordnetHierarchy(order.map((i) => WNIDS[i]), order.map((i) => names[i]));
  assertTree(shuffled, order.map((i) => expected[i]), "shuffled order");
});

Deno.test("WordNet tree: ties between hypernyms go to the smaller offset; instance hypernyms count", async () => {
  const ref = await refPromise;
  const { wnid, tied } = ref.tie;
  assert.ok(tied.length >= 2);
  const wnids = [wnid, ref.instance];
  const h = await wordnetHierarchy(wnids, ["tied", "instance"]);
  assertTree(h, expectedPaths(ref, wnids), "tie and instance");
  const [[first, firstName], [, secondName]] = tied;
  assert.notEqual(firstName, secondName, "the tied hypernyms can be told apart by name");
  assert.equal(h.superclass(0, h.depth(0) - 1), firstName, `the parent of ${wnid} is ${first}, of ${tied}`);
  assert.ok(h.depth(1) > 0, "an instance-only synset hangs under its instance hypernym");
});

Deno.test("WordNet tree: a missing data.noun or a wnid that is no noun synset is an InputError naming it", async () => {
  const fails = async (wnids: string[], message: RegExp, path?: string) =>
    await assert.rejects(
      wordnetHierarchy(wnids, wnids.map((_, i) => `class ${i}`), path ? { path } : {}),
      (e: Error) => e instanceof InputError && message.test(e.message),
    );
  await fails(
    [TABBY],
    /\/nowhere\/data\.noun: WordNet 3\.0 noun data not found \(install wordnet-base\)/,
    "/nowhere/data.noun",
  );
  await fails([TABBY, "n00000001"], /n00000001 \(class "class 1"\) is not a WordNet 3\.0 noun synset/);
  await fails(["n02123046", TABBY], /n02123046 \(class "class 0"\) is not a WordNet/); // inside tabby's line
  await fails([TABBY, "n99999999"], /n99999999 \(class "class 1"\) is not a WordNet/); // past the end
  await fails(["n1234"], /n1234 \(class "class 0"\) is not a WordNet/);
});

Deno.test("--hierarchy wordnet on a model without wnids is an InputError saying so", async () => {
  const out = await Deno.makeTempDir({ prefix: "wordnet-nownids-" });
  await assert.rejects(
    audit({ model: "fixtures/models/digits", hierarchy: "wordnet", out: join(out, "report") }),
    (e: Error) => e instanceof InputError && /^--hierarchy wordnet: the model declares no wnids/.test(e.message),
  );
  await Deno.remove(out, { recursive: true });
});

Deno.test({
  name: "audit --hierarchy wordnet: the report's within-depth shares and severities equal the reference's",
  ...gpuTest,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "wordnet-audit-" });
    const wnids = WNIDS.slice(0, 4); // tabby, tiger cat, coffee mug, space shuttle
    const model = linearModel(3, 1, 8, 4); // random weights: many mistakes
    const modelDir = join(dir, "model");
    await saveModelFolder(modelDir, { ...model, manifest: { ...model.manifest, wnids } });
    const data = await writeIdx(dir, "bars", bars(24, 4, 8, 9));
    const outcome = await audit({
      model: modelDir,
      data,
      out: join(dir, "report"),
      hierarchy: "wordnet",
      epsilons: [0, 0.1, 0.3],
      batchSize: 12,
      attack: "pgd",
      pgdSteps: 3,
      saliency: "none",
      prototypes: 0,
      skipMinEpsilon: true,
    });
    assert.ok(!outcome.stopped);
    const report = AuditReportSchema.parse(JSON.parse(await Deno.readTextFile(outcome.paths.report)));
    assert.match(report.config.hierarchy, /^wordnet: WordNet 3\.0 \(\/usr\/share\/wordnet\/data\.noun\)$/);
    const figures = report.hierarchy!;
    assert.match(figures.source, /data\.noun/);

    const paths = expectedPaths(await refPromise, wnids);
    const mistakes = report.images.filter((im) => im.top[0] !== im.label);
    assert.ok(mistakes.length >= 5, `${mistakes.length} mistakes`);
    const maxDepth = Math.max(...paths.map((p) => p.length - 1));
    const lca = (m: { label: number; top: number[] }) => sharedDepth(paths[m.label], paths[m.top[0]]);
    const heights = mistakes.map((m) => paths[m.label].length - 1 - lca(m));
    assert.equal(figures.severity.mistakes, mistakes.length);
    assert.ok(Math.abs(figures.severity.mean! - heights.reduce((a, b) => a + b, 0) / heights.length) < 1e-12);
    const histogram = new Array(maxDepth + 1).fill(0);
    heights.forEach((h) => histogram[h]++);
    assert.deepEqual(figures.severity.histogram, histogram);
    for (const c of figures.severity.perClass) {
      const own = mistakes.flatMap((m, k) => (m.label === c.label ? [heights[k]] : []));
      assert.equal(c.mistakes, own.length);
      assert.ok(Math.abs(c.mean - own.reduce((a, b) => a + b, 0) / own.length) < 1e-12);
    }
    assert.deepEqual(figures.depths.map((d) => d.depth), Array.from({ length: maxDepth - 1 }, (_, k) => k + 1));
    for (const d of figures.depths) {
      const within = mistakes.filter((m) => lca(m) >= d.depth);
      assert.equal(d.mistakesWithin, within.length, `depth ${d.depth}`);
      assert.equal(d.share, within.length / mistakes.length);
      const names = new Set(within.map((m) => paths[m.label][d.depth][1]));
      assert.ok(d.examples.every((e) => names.has(e.name)), `examples at depth ${d.depth}`);
    }
    // Every curve point carries its flips' mean severity; the figures name the chosen attack's last one.
    for (const p of [...report.robustness.fgsm, ...report.robustness.pgd!]) {
      assert.notEqual(p.meanSeverity, undefined, "written by this version");
      assert.equal(p.meanSeverity === null, p.flips === 0);
      if (p.flips > 0) assert.ok(p.meanSeverity! >= 1 && p.meanSeverity! <= maxDepth);
    }
    const last = report.robustness.curve.at(-1)!;
    assert.deepEqual(
      figures.adversarial,
      last.flips > 0 ? { attack: "pgd", epsilon: 0.3, flips: last.flips, meanSeverity: last.meanSeverity } : null,
    );
    const html = await Deno.readTextFile(outcome.paths.html);
    assert.ok(html.includes('<section id="hierarchy"'), "the page has the hierarchy section");
    assert.equal(html.match(/<tr data-key="\d+">/g)!.length >= figures.depths.length, true);
    await Deno.remove(dir, { recursive: true });
  },
});
