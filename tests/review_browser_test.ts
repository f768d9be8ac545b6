/**
 * A three-reviewer study in Chromium: each reviewer, in a browser context of their own, opens their
 * URL and judges the items the plan gives them (all five of the sample report's, three reviewers
 * each); one changes an answer. Then judgments.jsonl, the majorities, Krippendorff's alpha (by
 * hand), the intervals (Wilson's closed form, computed here), the explanation effect (Fisher's
 * test from SciPy) and the report's review section are checked.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  type Assignment,
  type JudgmentRecord,
  JudgmentRecordSchema,
  JUDGMENTS_FILE,
  makePlan,
  PLAN_FILE,
  reviewItems,
  type ReviewPlan,
  startReviewServer,
  studyPopulation,
} from "../pipeline/review/mod.ts";
import { sampleReportFolder } from "./report_fixture.ts";
import { launchChromium } from "./review_helpers.ts";

const SCRIPT_NAME = "<script>alert(1)</script>";
type Answer = JudgmentRecord["judgment"];
const A: Answer = "acceptable", N: Answer = "not acceptable", L: Answer = "label is wrong";

// The sample report: 24 images, 19 right; mistakes 8, 13, 18 and adversarial examples of images 1, 2.
const ITEMS = ["mistake:8", "mistake:13", "mistake:18", "adversarial:1", "adversarial:2"];
/** Per item, whether reviewers r1, r2, r3 see the explanation. */
const SHOWN: Record<string, boolean[]> = {
  "mistake:8": [true, false, true],
  "mistake:13": [false, true, false],
  "mistake:18": [true, false, true],
  "adversarial:1": [false, true, false],
  "adversarial:2": [true, false, true],
};
/** Final answers of r1, r2, r3; r3 first answers mistake 8 "acceptable", then changes it. */
const ANSWERS: Record<string, Answer[]> = {
  "mistake:8": [A, A, N],
  "mistake:13": [L, L, L],
  "mistake:18": [N, A, N],
  "adversarial:1": [N, N, N],
  "adversarial:2": [A, N, A],
};

/** The Wilson score interval, written out here from its closed form. */
function wilsonByHand(p: number, n: number): [number, number] {
  const z = 1.959963984540054;
  const centre = (p + z * z / (2 * n)) / (1 + z * z / n);
  const half = z / (1 + z * z / n) * Math.sqrt(p * (1 - p) / n + z * z / (4 * n * n));
  return [centre - half, centre + half];
}

/** Fisher's exact test, two-sided, from SciPy. */
async function scipyFisher(table: number[][]): Promise<number> {
  const code = `import scipy.stats as s; print(repr(s.fisher_exact(${JSON.stringify(table)})[1]))`;
  const { stdout, success } = await new Deno.Command("/usr/bin/python3", { args: ["-c", code], stdout: "piped" })
    .output();
  assert.ok(success, "SciPy ran");
  return Number(new TextDecoder().decode(stdout));
}

function close(actual: number | null | undefined, expected: number, what: string) {
  assert.ok(
    actual !== null && actual !== undefined && Math.abs(actual - expected) < 1e-9,
    `${what}: ${actual} != ${expected}`,
  );
}

Deno.test({
  name: "three reviewers in Chromium: separate pages, judgments recorded per reviewer, majority, alpha and intervals",
  async fn() {
    const { dir, report } = await sampleReportFolder({ classNames: ["cat", SCRIPT_NAME, "sparrow", "trout"] });
    // A plan written beforehand fixes the arms; its population makes the items a random sample
    // of 5 mistakes (one stratum) and of 4 adversarial examples.
    const items = reviewItems(report);
    const reviewers = ["r1", "r2", "r3"].map((id) => ({ id, name: id }));
    const base = makePlan(items, studyPopulation(report), reviewers, { perItem: 3, label: "shown", seed: 1 });
    const assignments: Assignment[] = ITEMS.flatMap((item) =>
      reviewers.map((r, j) => ({ item, reviewer: r.id, explanationShown: SHOWN[item][j], labelShown: true }))
    );
    const plan: ReviewPlan = {
      ...base,
      sample: "random",
      population: { mistake: { x: 5 }, adversarial: { all: 4 } },
      items: base.items.map((item) => ({ ...item, stratum: item.kind === "mistake" ? "x" : "all" })),
      assignments,
    };
    await Deno.writeTextFile(join(dir, PLAN_FILE), JSON.stringify(plan));
    const server = await startReviewServer({ dir, port: 0, reviewers: ["ann", "bo", "cy"] });
    const browser = await launchChromium();
    try {
      const dialogs: string[] = [];
      const pages = await Promise.all(server.reviewers.map(async (r) => {
        const context = await browser.newContext();
        const page = await context.newPage();
        page.on("dialog", (dialog) => {
          dialogs.push(dialog.message());
          void dialog.dismiss();
        });
        await page.goto(r.url);
        return page;
      }));
      const click = async (reviewer: number, item: string, answer: Answer) => {
        const card = pages[reviewer].locator(`.card[data-item="${item}"]`);
        const [response] = await Promise.all([
          pages[reviewer].waitForResponse((r) => r.url().endsWith("/judgments") && r.request().method() === "POST"),
          card.getByRole("button", { name: answer, exact: true }).click(),
        ]);
        assert.equal(response.status(), 200, await response.text());
        await card.locator(".status", { hasText: `Judged: ${answer}` }).waitFor();
      };

      for (const [r, page] of pages.entries()) {
        assert.equal(await page.locator(".reviewer").innerText(), ["ann", "bo", "cy"][r]);
        const shown: Record<string, boolean> = {};
        for (const item of ITEMS) {
          shown[item] = await page.locator(`.card[data-item="${item}"] figure.explanation`).count() > 0;
        }
        assert.deepEqual(shown, Object.fromEntries(ITEMS.map((item) => [item, SHOWN[item][r]])), `reviewer ${r + 1}`);
        assert.ok((await page.locator("body").innerText()).includes(SCRIPT_NAME), "the class name is shown as text");
      }
      await click(2, "mistake:8", A);
      for (const item of ITEMS) {
        for (const r of [0, 1, 2]) await click(r, item, ANSWERS[item][r]);
      }
      // Each reviewer's reload shows their own answers only.
      await pages[2].reload();
      const pressed = await pages[2].locator('.card button[aria-pressed="true"]').evaluateAll((buttons) =>
        buttons.map((b) => `${b.closest(".card")!.getAttribute("data-item")}=${b.textContent}`)
      );
      assert.deepEqual(pressed, ITEMS.map((item) => `${item}=${ANSWERS[item][2]}`));

      const lines = (await Deno.readTextFile(join(dir, JUDGMENTS_FILE))).trimEnd().split("\n");
      const records = lines.map((line) => JudgmentRecordSchema.parse(JSON.parse(line)));
      assert.equal(records.length, 16, "15 answers and the changed one: the log keeps both");
      assert.deepEqual(records.slice(0, 2).map((r) => [r.item, r.reviewer, r.judgment]), [
        ["mistake:8", "r3", A],
        ["mistake:8", "r1", A],
      ]);
      for (const r of records) {
        assert.equal(r.explanationShown, SHOWN[r.item][Number(r.reviewer.slice(1)) - 1], `${r.item} ${r.reviewer}`);
      }

      const review = JSON.parse(await Deno.readTextFile(join(dir, "report.json"))).review;
      const study = review.study;
      assert.deepEqual(
        study.items.map((i: { item: string; majority: Answer | null }) => [i.item, i.majority]),
        [["mistake:8", A], ["mistake:13", L], ["mistake:18", N], ["adversarial:1", N], ["adversarial:2", A]],
      );
      // By hand, Krippendorff's alpha = 1 - (n - 1) D / (n^2 - sum n_c^2), D the off-diagonal coincidences.
      // Mistakes {A,A,N} {L,L,L} {N,A,N}: n = 9, n_A = n_N = n_L = 3, off-diagonal 2 + 2 = 4:
      // 1 - 8 * 4 / (81 - 27) = 11/27. Adversarial {N,N,N} {A,N,A}: n = 6, n_N = 4, n_A = 2, off-diagonal 2:
      // 1 - 5 * 2 / (36 - 20) = 3/8.
      const alpha = (kind: string) =>
        study.agreement.find((a: { kind: string; arm: string }) => a.kind === kind && a.arm === "all arms").alpha;
      close(alpha("mistake"), 11 / 27, "alpha of mistakes");
      close(alpha("adversarial"), 3 / 8, "alpha of adversarial examples");

      // Forgiven mistakes (acceptable or label wrong): 2 of 3 sampled from 5. Variance
      // (1 - 3/5) p (1 - p) / (3 - 1) = 2/45, effective n = p (1 - p) / variance = 5.
      const [flo, fhi] = wilsonByHand(2 / 3, 5);
      close(study.humanTop1.forgivenShare.estimate, 2 / 3, "forgiven share");
      close(study.humanTop1.forgivenShare.lo, flo, "forgiven lo");
      close(study.humanTop1.forgivenShare.hi, fhi, "forgiven hi");
      close(study.humanTop1.estimate, (19 + 5 * 2 / 3) / 24, "human top-1");
      close(study.humanTop1.lo, (19 + 5 * flo) / 24, "human top-1 lo");
      close(study.humanTop1.hi, (19 + 5 * fhi) / 24, "human top-1 hi");
      // Fooled: 1 of 2 sampled from 4: variance (1 - 2/4) 1/4 / 1 = 1/8, effective n = 2.
      const [alo, ahi] = wilsonByHand(1 / 2, 2);
      close(study.fooling.rate, 1 / 2, "fooling rate");
      close(study.fooling.lo, alo, "fooling lo");
      close(study.fooling.hi, ahi, "fooling hi");

      // With the explanation: mistakes accepted 1 of 5 (8 r1, 8 r3, 13 r2, 18 r1, 18 r3), without 2 of 4;
      // adversarial accepted 2 of 3, without 0 of 3.
      const effect = (kind: string) => study.explanationEffect.find((e: { kind: string }) => e.kind === kind);
      assert.deepEqual([effect("mistake").withExplanation, effect("mistake").withoutExplanation], [
        { accepted: 1, judgments: 5 },
        { accepted: 2, judgments: 4 },
      ]);
      assert.deepEqual([effect("adversarial").withExplanation, effect("adversarial").withoutExplanation], [
        { accepted: 2, judgments: 3 },
        { accepted: 0, judgments: 3 },
      ]);
      close(effect("mistake").p, await scipyFisher([[1, 4], [2, 2]]), "Fisher p, mistakes");
      close(effect("adversarial").p, await scipyFisher([[2, 1], [0, 3]]), "Fisher p, adversarial");
      close(effect("mistake").difference, 1 / 5 - 2 / 4, "difference");
      // Newcombe's hybrid score interval from the two Wilson intervals.
      const [l1, u1] = wilsonByHand(1 / 5, 5), [l2, u2] = wilsonByHand(2 / 4, 4);
      close(effect("mistake").lo, 1 / 5 - 2 / 4 - Math.sqrt((1 / 5 - l1) ** 2 + (u2 - 2 / 4) ** 2), "difference lo");
      close(effect("mistake").hi, 1 / 5 - 2 / 4 + Math.sqrt((u1 - 1 / 5) ** 2 + (2 / 4 - l2) ** 2), "difference hi");
      assert.equal(effect("mistake").verdict, "too small to conclude");

      await pages[0].goto(new URL("/report", server.url).href);
      const reviewText = await pages[0].locator("#review").innerText();
      const human = (19 + 5 * 2 / 3) / 24;
      for (const figure of [`${(100 * human).toFixed(1)}%`, "50.0%", "too small to conclude", "0.407", "0.375"]) {
        assert.ok(reviewText.includes(figure), `the report's review shows ${figure}: ${reviewText}`);
      }
      const headline = await pages[0].locator("#headline").innerText();
      assert.ok(headline.includes(`estimate from 3 of 5 mistakes judged`), headline);
      assert.deepEqual(dialogs, [], "no script from the report ran");
    } finally {
      await browser.close();
      await server.shutdown();
    }
  },
});
