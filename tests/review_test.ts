import assert from "node:assert/strict";
import { join } from "node:path";
import { DOMParser } from "linkedom";
import { InputError } from "../pipeline/io/input_error.ts";
import {
  answerKey,
  appendJudgment,
  type Assignment,
  type JudgmentRecord,
  JUDGMENTS_FILE,
  loadOrCreatePlan,
  makePlan,
  newReviewers,
  PLAN_FILE,
  readJudgments,
  renderReviewPage,
  REVIEWERS_FILE,
  reviewItems,
  reviewSummary,
  ReviewSummarySchema,
  startReviewServer,
  studyPopulation,
} from "../pipeline/review/mod.ts";
import { errorLines, runCli, spawnCli } from "./cli_helpers.ts";
import { judge, postJudgment } from "./review_helpers.ts";
import { HOSTILE, hostileReport, sampleReportFolder } from "./report_fixture.ts";

// The sample report: 24 images, 19 right (top-1 19/24); its three most confident mistakes are
// images 8, 13 and 18, and its two adversarial examples come from images 1 and 2.
const ITEMS = ["mistake:8", "mistake:13", "mistake:18", "adversarial:1", "adversarial:2"];

const AT = "2025-02-03T10:00:00.000Z";

function judgment(
  item: string,
  value: JudgmentRecord["judgment"],
  explanationShown: boolean,
  reviewer = "r1",
): JudgmentRecord {
  const [kind, index] = item.split(":");
  return {
    item,
    kind: kind as JudgmentRecord["kind"],
    index: Number(index),
    reviewer,
    judgment: value,
    explanationShown,
    labelShown: true,
    at: AT,
  };
}

/** One reviewer's plan of the sample report, explanations shown as `shown` says. */
function onePersonPlan(report: Parameters<typeof reviewItems>[0], shown: (id: string, i: number) => boolean) {
  const items = reviewItems(report);
  const plan = makePlan(items, studyPopulation(report), [{ id: "r1", name: "r1" }], {
    perItem: 1,
    label: "shown",
    seed: 1,
  });
  const assignments: Assignment[] = ITEMS.map((item, i) => ({
    item,
    reviewer: "r1",
    explanationShown: shown(item, i),
    labelShown: true,
  }));
  return { items, plan: { ...plan, assignments } };
}

Deno.test("the sample report has the items these tests assume", async () => {
  const { report } = await sampleReportFolder();
  assert.deepEqual(reviewItems(report).map((item) => item.id), ITEMS);
  assert.equal(report.accuracy.count, 24);
  assert.equal(Math.round(report.accuracy.top1 * 24), 19);
});

Deno.test("appendJudgment then readJudgments gives back the same judgments, one line each", async () => {
  const dir = await Deno.makeTempDir();
  const written = [judgment("mistake:8", "acceptable", true), judgment("adversarial:2", "label is wrong", false)];
  for (const j of written) await appendJudgment(dir, j);
  const log = await readJudgments(dir, new Set(ITEMS));
  assert.deepEqual([...log.judgments.values()], written);
  assert.deepEqual(log.records, written);
  assert.equal(log.lines, 2);
  assert.deepEqual(log.malformed, []);
  assert.equal((await Deno.readTextFile(join(dir, JUDGMENTS_FILE))).split("\n").length, 3);
});

Deno.test("readJudgments with no judgments file: no judgments", async () => {
  const log = await readJudgments(await Deno.makeTempDir(), new Set(ITEMS));
  assert.deepEqual(log, { judgments: new Map(), records: [], lines: 0, malformed: [] });
});

Deno.test("readJudgments skips and reports malformed lines, keeps valid ones, and the last judgment per item wins", async () => {
  const dir = await Deno.makeTempDir();
  const line = (j: unknown) => JSON.stringify(j);
  const first = judgment("mistake:8", "not acceptable", true);
  const last = judgment("mistake:8", "acceptable", true);
  const other = judgment("adversarial:1", "not acceptable", false);
  const lines = [
    line(first), // 1
    "{not json", // 2
    line({ ...other, judgment: "maybe" }), // 3: wrong value
    line({ ...other, explanationShown: undefined }), // 4: field missing
    line({ ...other, index: 2 }), // 5: item disagrees with kind:index
    line(judgment("mistake:3", "acceptable", true)), // 6: not an item of this report
    line({ ...other, extra: 1 }), // 7: unknown field
    line(last), // 8
    line(other), // 9
    line(judgment("mistake:13", "acceptable", false)).slice(0, 30), // 10: cut short by a crash
  ];
  await Deno.writeTextFile(join(dir, JUDGMENTS_FILE), lines.join("\n"));
  const log = await readJudgments(dir, new Set(ITEMS));
  assert.equal(log.lines, 10);
  assert.deepEqual(log.malformed.map((m) => m.line), [2, 3, 4, 5, 6, 7, 10]);
  const reasons = log.malformed.map((m) => m.reason);
  assert.match(reasons[0], /^not JSON/);
  assert.match(reasons[1], /^judgment:/);
  assert.match(reasons[2], /^explanationShown:/);
  assert.match(reasons[3], /^item: item must be kind:index/);
  assert.equal(reasons[4], "unknown item mistake:3");
  assert.match(reasons[5], /extra/);
  assert.match(reasons[6], /^not JSON/);
  assert.deepEqual(
    log.judgments,
    new Map([[answerKey("mistake:8", "r1"), last], [answerKey("adversarial:1", "r1"), other]]),
  );
  // The log keeps the changed answer too.
  assert.deepEqual(log.records, [first, last, other]);

  // The next judgment after the crash starts a line of its own rather than joining the cut one.
  const after = judgment("mistake:18", "label is wrong", true);
  await appendJudgment(dir, after);
  const again = await readJudgments(dir, new Set(ITEMS));
  assert.equal(again.lines, 11);
  assert.deepEqual(again.judgments.get(answerKey("mistake:18", "r1")), after);
  assert.deepEqual(again.malformed.map((m) => m.line), [2, 3, 4, 5, 6, 7, 10]);
});

Deno.test("reviewSummary: counts, rectified top-1, rectified robustness and agreement, by hand", async () => {
  const { dir, report } = await sampleReportFolder();
  const written = [
    judgment("mistake:8", "not acceptable", true), // replaced below
    judgment("mistake:8", "acceptable", true),
    judgment("mistake:13", "label is wrong", true),
    judgment("mistake:18", "not acceptable", false),
    judgment("adversarial:1", "not acceptable", true),
    judgment("adversarial:2", "acceptable", false),
  ];
  for (const j of written) await appendJudgment(dir, j);
  await Deno.writeTextFile(join(dir, JUDGMENTS_FILE), "garbage\n", { append: true });
  const { plan } = onePersonPlan(report, (id) => ["mistake:8", "mistake:13", "adversarial:1"].includes(id));
  const { study, ...summary } = reviewSummary(report, plan, await readJudgments(dir, new Set(ITEMS)));
  assert.ok(study);
  assert.deepEqual(summary, {
    lines: 7,
    malformedLines: 1,
    mistakes: { judged: 3, acceptable: 1, notAcceptable: 1, labelWrong: 1 },
    adversarial: { judged: 2, acceptable: 1, notAcceptable: 1, labelWrong: 0 },
    // 19 right + mistake 8 (acceptable), of 24 less mistake 13 (label is wrong: no ground truth).
    rectifiedTop1: 20 / 23,
    rectifiedRobustness: 1 / 2,
    // Shown: mistake 8 acceptable, mistake 13 label wrong, adversarial 1 not acceptable.
    agreement: { withExplanation: 1 / 3, withoutExplanation: 1 / 2 },
  });
  ReviewSummarySchema.parse({ ...summary, study });

  const none = reviewSummary(report, plan, { judgments: new Map(), records: [], lines: 0, malformed: [] });
  assert.equal(none.rectifiedTop1, 19 / 24);
  assert.equal(none.rectifiedRobustness, null);
  assert.deepEqual(none.agreement, { withExplanation: null, withoutExplanation: null });
});

Deno.test("the plan is made once at the first start and the same at the next; a malformed plan is an InputError", async () => {
  const { dir, report } = await sampleReportFolder();
  const items = reviewItems(report);
  const reviewers = [{ id: "r1", name: "r1" }];
  const make = (seed: number) =>
    makePlan(items, studyPopulation(report), reviewers, { perItem: 3, label: "shown", seed });
  const { plan: first, created } = await loadOrCreatePlan(dir, items, make);
  assert.ok(created);
  const text = await Deno.readTextFile(join(dir, PLAN_FILE));
  assert.deepEqual(first.items.map((item) => item.id), ITEMS);
  // One reviewer: each item once, whatever --per-item asked.
  assert.equal(first.perItem, 1);
  assert.deepEqual(first.assignments.map((a) => a.item).sort(), [...ITEMS].sort());
  // Without the audit's study sample the items are the report's shown ones, and the plan says so.
  assert.equal(first.sample, "shown");
  const again = await loadOrCreatePlan(dir, items, () => assert.fail("made again"));
  assert.deepEqual(again, { plan: first, created: false });
  assert.equal(await Deno.readTextFile(join(dir, PLAN_FILE)), text);

  // Two server starts show the same cards with the same explanations.
  const explained = async () => {
    const server = await startReviewServer({ dir, port: 0 });
    try {
      const page = await (await fetch(server.reviewers[0].url)).text();
      return [...page.matchAll(/data-item="([^"]+)" data-explained="(true|false)"/g)].map((m) => `${m[1]}=${m[2]}`);
    } finally {
      await server.shutdown();
    }
  };
  const shown = await explained();
  assert.deepEqual(shown, first.assignments.map((a) => `${a.item}=${a.explanationShown}`));
  assert.deepEqual(await explained(), shown);
  assert.equal(await Deno.readTextFile(join(dir, PLAN_FILE)), text);

  await Deno.writeTextFile(join(dir, PLAN_FILE), JSON.stringify({ ...first, perItem: "three" }));
  await assert.rejects(
    () => loadOrCreatePlan(dir, items, make),
    (e) => e instanceof InputError && e.message.includes(PLAN_FILE),
  );
  await Deno.writeTextFile(join(dir, PLAN_FILE), JSON.stringify({ ...first, items: first.items.slice(0, 1) }));
  await assert.rejects(() => loadOrCreatePlan(dir, items, make), /review-plan\.json: no entry for mistake:13/);
  // A plan of the first review tool (no reviewers) is refused, not misread.
  await Deno.writeTextFile(join(dir, PLAN_FILE), JSON.stringify({ seed: 1, createdAt: AT, explanationShown: {} }));
  await assert.rejects(() => startReviewServer({ dir, port: 0 }), /review-plan\.json: invalid plan/);
  await Deno.writeTextFile(join(dir, PLAN_FILE), "{");
  await assert.rejects(() => startReviewServer({ dir, port: 0 }), /review-plan\.json: not valid JSON/);
  // Other reviewers than the study's first start's are refused, naming the file.
  await Deno.remove(join(dir, PLAN_FILE));
  await assert.rejects(
    () => startReviewServer({ dir, port: 0, reviewers: ["ann", "bo"] }),
    /review-reviewers\.json: the study's reviewers are r1/,
  );
  assert.equal((await Deno.stat(join(dir, REVIEWERS_FILE))).mode! & 0o777, 0o600);
});

Deno.test("the review page escapes class names and shows explanations (with the prototype grid) only as planned", async () => {
  const script = "<script>alert(1)</script>";
  const { report } = await sampleReportFolder({ classNames: ["cat", script, "sparrow", "trout"] });
  // Give the class most items are predicted as (trout) a prototype grid.
  const bias = report.bias!;
  const withGrid = { ...report, bias: { ...bias, classes: [{ ...bias.classes[0], label: 3 }, bias.classes[1]] } };
  const { items, plan } = onePersonPlan(report, (_, i) => i % 2 === 0);
  // Mistake 18 is asked without its label.
  const assignments = plan.assignments.map((a) => a.item === "mistake:18" ? { ...a, labelShown: false } : a);
  const judged = new Map([["mistake:13", judgment("mistake:13", "label is wrong", false)]]);
  const [reviewer] = newReviewers(["r1"]);
  const html = renderReviewPage(withGrid, { reviewer, items, assignments, judgments: judged });
  const document = new DOMParser().parseFromString(html, "text/html");
  assert.equal(document.querySelectorAll("script").length, 1, "only the page's own script");
  assert.ok(!html.includes(script));
  const cards = [...document.querySelectorAll(".card")];
  assert.deepEqual(cards.map((c) => c.getAttribute("data-item")), ITEMS);
  const card = (id: string) => cards[ITEMS.indexOf(id)];
  assert.equal(card("mistake:13").querySelector(".label")!.textContent, script);
  assert.equal(card("mistake:13").querySelector(".answer")!.textContent, "trout");
  assert.equal(card("adversarial:1").querySelector(".answer")!.textContent, "sparrow");
  for (const [i, c] of cards.entries()) {
    const figures = [...c.querySelectorAll("figure.explanation img")].map((img) => img.getAttribute("src"));
    const item = reviewItems(report)[i];
    const grid = item.predicted === 3 ? [`/${bias.classes[0].grid}`] : [];
    // The saliency overlay is drawn over the image.
    const explained = [`/${item.image}`, `/${item.saliency}`, ...grid];
    assert.deepEqual(figures, assignments[i].explanationShown ? explained : [], item.id);
    assert.equal(c.querySelector("figure:not(.explanation) img")!.getAttribute("src"), `/${item.image}`);
  }
  assert.ok(card("mistake:13").classList.contains("judged"));
  assert.equal(card("mistake:13").querySelector('[aria-pressed="true"]')!.textContent, "label is wrong");
  assert.equal(card("mistake:8").querySelectorAll('[aria-pressed="true"]').length, 0);
  assert.ok(document.querySelector('a[href="/report"]'));
  // Without the label: no label row, and no "label is wrong" to answer.
  assert.equal(card("mistake:18").querySelector(".label"), null);
  assert.deepEqual([...card("mistake:18").querySelectorAll("button")].map((b) => b.textContent), [
    "acceptable",
    "not acceptable",
  ]);
  assert.equal(document.body.getAttribute("data-token"), reviewer.token);
  assert.ok(!/(src|href)="(https?:)?\/\//.test(html), "no external URLs");
});

Deno.test("the review page shows every string of a hostile report as text and only as text", async () => {
  const { report } = await sampleReportFolder();
  const hostile = hostileReport(report);
  const { items, plan } = onePersonPlan(hostile, () => true);
  const [reviewer] = newReviewers([`ann${HOSTILE}`]);
  const page = { reviewer, items, assignments: plan.assignments, judgments: new Map() };
  const html = renderReviewPage(hostile, page);
  // Unescaped, the payload would make scripts, <i> elements and onmouseover attributes (upper-cased in titles).
  assert.equal(html.match(/<script/gi)!.length, 1, "only the page's own script");
  assert.doesNotMatch(html, /<i[ >]|onmouseover="/i);
  const document = new DOMParser().parseFromString(html, "text/html");
  assert.equal(document.querySelectorAll("script").length, 1);
  assert.equal(document.querySelectorAll("i").length, 0);
  for (const element of document.querySelectorAll("*")) {
    for (const name of element.getAttributeNames()) assert.doesNotMatch(name, /^on/i, `${element.tagName} ${name}`);
  }
  const card = document.querySelector('[data-item="mistake:13"]')!;
  assert.equal(card.querySelector(".label")!.textContent, `dog${HOSTILE}`);
  assert.equal(
    card.querySelector("figure.explanation .overlaid img + img")!.getAttribute("alt"),
    `why "trout${HOSTILE}" (gradient${HOSTILE} saliency)`,
  );
  const adversarial = document.querySelector('[data-item="adversarial:1"] h2')!.textContent;
  assert.ok(adversarial.includes(`(PGD${HOSTILE.toUpperCase()}, ε = `), adversarial);
  assert.equal(document.querySelector("h1")!.textContent, `Review: sample-convnet${HOSTILE} on sample-bars${HOSTILE}`);
  assert.equal(document.querySelector(".reviewer")!.textContent, `ann${HOSTILE}`);
});

Deno.test("the asset route serves the report's PNGs and JPEGs and nothing else", async () => {
  const { dir, report } = await sampleReportFolder();
  const server = await startReviewServer({ dir, port: 0 });
  try {
    const image = report.explanations!.mistakes[0].image;
    const ok = await fetch(new URL(image, server.url));
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get("content-type"), "image/png");
    assert.deepEqual(new Uint8Array(await ok.arrayBuffer()), await Deno.readFile(join(dir, image)));
    // A photograph's picture: served as what it is.
    const photo = new Uint8Array([0xff, 0xd8, 0xff, 0xd9]);
    await Deno.writeFile(join(dir, "assets", "photo.jpg"), photo);
    await Deno.writeFile(join(dir, "assets", "photo.jpeg"), photo);
    const jpg = await fetch(new URL("assets/photo.jpg", server.url));
    assert.equal(jpg.headers.get("content-type"), "image/jpeg");
    assert.deepEqual(new Uint8Array(await jpg.arrayBuffer()), photo);
    await Deno.writeTextFile(join(dir, "assets", "notes.txt"), "secret");
    for (
      const path of [
        "/assets/../report.json",
        "/assets/..%2Freport.json",
        "/assets/%2e%2e%2freport.json",
        "/assets/..%5Creport.json",
        "/assets/notes.txt",
        "/assets/photo.jpeg",
        "/assets/a%20b.png",
        "/assets/sub/x.png",
        "/assets/missing.png",
        "/assets/",
        "/report.json",
      ]
    ) {
      const response = await fetch(server.url.replace(/\/$/, "") + path);
      assert.equal(response.status, 404, path);
      assert.ok(!(await response.text()).includes("schemaVersion"), path);
    }
  } finally {
    await server.shutdown();
  }
});

Deno.test("POST /judgments: a bad body or an unknown item is a 400 with a JSON error and records nothing", async () => {
  const { dir, report } = await sampleReportFolder();
  const server = await startReviewServer({ dir, port: 0 });
  const post = (body: string) => postJudgment(server, { body });
  try {
    for (
      const body of [
        "{not json",
        "[]",
        JSON.stringify({ item: "mistake:8" }),
        JSON.stringify({ item: "mistake:8", judgment: "maybe" }),
        JSON.stringify({ item: "mistake:8", judgment: "acceptable", explanationShown: false }),
        JSON.stringify({ item: "mistake:8", judgment: "acceptable", reviewer: "r2" }),
        JSON.stringify({ item: "../report", judgment: "acceptable" }),
        JSON.stringify({ item: "mistake:3", judgment: "acceptable" }),
      ]
    ) {
      const response = await post(body);
      assert.equal(response.status, 400, body);
      assert.equal(typeof (await response.json()).error, "string", body);
    }
    assert.equal(await Deno.stat(join(dir, JUDGMENTS_FILE)).catch(() => null), null);

    const response = await post(JSON.stringify({ item: "adversarial:2", judgment: "not acceptable" }));
    assert.equal(response.status, 200);
    const summary = ReviewSummarySchema.parse(await response.json());
    assert.deepEqual(summary.adversarial, { judged: 1, acceptable: 0, notAcceptable: 1, labelWrong: 0 });
    assert.equal(summary.rectifiedTop1, report.accuracy.top1);
    assert.deepEqual(await (await fetch(new URL("/summary", server.url))).json(), summary);
    const written = JSON.parse(await Deno.readTextFile(join(dir, "report.json")));
    assert.deepEqual(written.review, summary);
    assert.ok((await Deno.stat(join(dir, "index.html"))).isFile);
  } finally {
    await server.shutdown();
  }
});

Deno.test("the server writes one judgment at a time: concurrent POSTs all land, and the report counts them all", async () => {
  const { dir } = await sampleReportFolder();
  const server = await startReviewServer({ dir, port: 0 });
  try {
    // Before any judgment the start has re-rendered the report, with no review yet.
    assert.equal(JSON.parse(await Deno.readTextFile(join(dir, "report.json"))).review, null);
    assert.ok((await Deno.stat(join(dir, "index.html"))).isFile);
    const posts = ITEMS.flatMap((item) => ["acceptable", "not acceptable"].map((judgment) => ({ item, judgment })));
    const responses = await Promise.all(posts.map(({ item, judgment }) => judge(server, 0, item, judgment)));
    const summaries = await Promise.all(responses.map((r) => r.json()));
    assert.deepEqual(responses.map((r) => r.status), posts.map(() => 200));
    assert.deepEqual(summaries.map((s) => s.lines).sort((a, b) => a - b), posts.map((_, i) => i + 1));
    const log = await readJudgments(dir, new Set(ITEMS));
    assert.equal(log.lines, posts.length);
    assert.deepEqual(log.malformed, []);
    const written = JSON.parse(await Deno.readTextFile(join(dir, "report.json")));
    assert.equal(written.review.lines, posts.length);
    assert.equal(written.review.mistakes.judged + written.review.adversarial.judged, ITEMS.length);
  } finally {
    await server.shutdown();
  }
});

Deno.test("review CLI: no report.json, or a report without explanations, exits 2 with one line", async () => {
  const empty = await runCli("review", ["--report", await Deno.makeTempDir(), "--port", "0"]);
  assert.equal(empty.code, 2);
  assert.equal(errorLines(empty).length, 1, empty.stderr);
  assert.match(errorLines(empty)[0], /^review: .*report\.json: no such file or folder$/);

  const { dir } = await sampleReportFolder({ explanations: false });
  const none = await runCli("review", ["--report", dir, "--port", "0"]);
  assert.equal(none.code, 2);
  assert.equal(errorLines(none).length, 1, none.stderr);
  assert.match(errorLines(none)[0], /the audit ran with --saliency none/);

  await Deno.writeTextFile(join(dir, "report.json"), "{}");
  const invalid = await runCli("review", ["--report", dir, "--port", "0"]);
  assert.equal(invalid.code, 2);
  assert.equal(errorLines(invalid).length, 1, invalid.stderr);
  assert.match(errorLines(invalid)[0], /report\.json: not an audit report/);

  const port = await runCli("review", ["--report", dir, "--port", "http"]);
  assert.equal(port.code, 2);
  assert.deepEqual(errorLines(port), ["review: --port: must be a port number"]);
  for (
    const [args, line] of [
      [["--reviewers", "2", "--invite", "ann"], "review: --reviewers and --invite: give one"],
      [["--invite", "ann,ann"], "review: --invite: a name is given twice"],
      [["--invite", "ann,,bo"], "review: --invite: names are comma-separated, 1-100 characters each"],
      [["--reviewers", "0"], "review: --reviewers: Too small: expected number to be >=1"],
      [["--export", "a.csv", "--import", "b.csv"], "review: --export and --import: give one"],
    ] as [string[], string][]
  ) {
    const result = await runCli("review", ["--report", dir, ...args]);
    assert.equal(result.code, 2, args.join(" "));
    assert.deepEqual(errorLines(result), [line]);
  }
});

Deno.test("review CLI: prints the URL, reports malformed judgment lines, serves, and stops cleanly on SIGINT", async () => {
  const { dir } = await sampleReportFolder();
  await Deno.writeTextFile(
    join(dir, JUDGMENTS_FILE),
    JSON.stringify(judgment("mistake:8", "acceptable", true)) + "\n{oops\n",
  );
  const child = spawnCli("review", ["--report", dir, "--port", "0"], "piped");
  const stderr = new Response(child.stderr).text();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  try {
    while (!/http:\/\/\S+\//.test(out)) {
      const { value, done } = await reader.read();
      if (done) break;
      out += value;
    }
    while (!/r1 \(r1\): http:\/\/\S+token=[0-9a-f]{64}\n/.test(out)) {
      const { value, done } = await reader.read();
      if (done) break;
      out += value;
    }
    const url = out.match(/http:\/\/\S+token=[0-9a-f]{64}/)?.[0];
    assert.ok(url, `no reviewer URL printed: ${out}`);
    assert.equal((await fetch(url)).status, 200);
    // The root without a token is no reviewer's page.
    assert.equal((await fetch(new URL("/", url))).status, 401);
    // The start wrote the judgments found into the report.
    const report = JSON.parse(await Deno.readTextFile(join(dir, "report.json")));
    assert.deepEqual([report.review.lines, report.review.malformedLines, report.review.mistakes.acceptable], [2, 1, 1]);
    child.kill("SIGINT");
    assert.equal((await child.status).code, 0);
    const lines = (await stderr).split("\n").filter((l) => l.trim() && !l.includes("XDG_RUNTIME_DIR"));
    assert.equal(lines.length, 1, await stderr);
    assert.match(lines[0], /judgments\.jsonl:2: skipped: not JSON/);
  } finally {
    try {
      child.kill("SIGKILL");
    } catch {
      // already stopped
    }
    await child.status;
    while (!(await reader.read()).done);
    await stderr;
  }
});
