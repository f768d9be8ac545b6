import assert from "node:assert/strict";
import { join } from "node:path";
import { chromium } from "playwright-core";
import {
  type JudgmentRecord,
  JudgmentRecordSchema,
  JUDGMENTS_FILE,
  PLAN_FILE,
  type ReviewPlan,
  startReviewServer,
} from "../pipeline/review/mod.ts";
import { sampleReportFolder } from "./report_fixture.ts";

const SCRIPT_NAME = "<script>alert(1)</script>";

// The sample report's items: mistakes on images 8, 13, 18 and adversarial examples of images 1, 2
// (24 images, 19 right). A plan written beforehand fixes which are shown with explanations.
const PLAN: ReviewPlan = {
  seed: 1,
  createdAt: "2025-02-03T10:00:00.000Z",
  explanationShown: {
    "mistake:8": true,
    "mistake:13": false,
    "mistake:18": true,
    "adversarial:1": false,
    "adversarial:2": true,
  },
};

/** The clicks, in order; mistake 8 is judged twice and the second judgment counts. */
const CLICKS: [string, JudgmentRecord["judgment"]][] = [
  ["mistake:8", "not acceptable"],
  ["mistake:13", "label is wrong"],
  ["adversarial:1", "not acceptable"],
  ["adversarial:2", "acceptable"],
  ["mistake:8", "acceptable"],
];

// By hand: mistake 8 (acceptable) counts as right, mistake 13 (label is wrong) leaves the count:
// (19 + 1) / (24 - 1). Of the
// two adversarial examples, one is not acceptable. With the explanation shown: mistake 8 and
// adversarial 2, both acceptable; without: mistake 13 and adversarial 1, neither acceptable.
const EXPECTED = {
  lines: 5,
  malformedLines: 0,
  mistakes: { judged: 2, acceptable: 1, notAcceptable: 0, labelWrong: 1 },
  adversarial: { judged: 2, acceptable: 1, notAcceptable: 1, labelWrong: 0 },
  rectifiedTop1: 20 / 23,
  rectifiedRobustness: 1 / 2,
  agreement: { withExplanation: 1, withoutExplanation: 0 },
};

Deno.test({
  name: "review page in Chromium: class names shown as text, clicks recorded, report rectified",
  async fn() {
    const { dir } = await sampleReportFolder({ classNames: ["cat", SCRIPT_NAME, "sparrow", "trout"] });
    await Deno.writeTextFile(join(dir, PLAN_FILE), JSON.stringify(PLAN));
    const server = await startReviewServer({ dir, port: 0 });
    let browser;
    try {
      browser = await chromium.launch({
        executablePath: "/usr/bin/chromium",
        headless: true,
        args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
      });
      const page = await browser.newPage();
      const dialogs: string[] = [];
      page.on("dialog", (dialog) => {
        dialogs.push(dialog.message());
        void dialog.dismiss();
      });
      await page.goto(server.url);

      const text = await page.locator("body").innerText();
      assert.ok(text.includes(SCRIPT_NAME), "the class name is shown as text");
      assert.equal(await page.locator(".card .label", { hasText: SCRIPT_NAME }).count(), 2);

      // What the page shows of each item: the explanation where the plan says so.
      const shown: Record<string, boolean> = {};
      for (const id of Object.keys(PLAN.explanationShown)) {
        shown[id] = await page.locator(`.card[data-item="${id}"] figure.explanation`).count() > 0;
      }
      assert.deepEqual(shown, PLAN.explanationShown);
      // Every image has loaded (from /assets/) with a size: the page's DOM, not this file's types.
      type Img = { complete: boolean; naturalWidth: number };
      const images = await page.locator("img").evaluateAll((imgs) =>
        imgs.map((img) => (img as unknown as Img).complete && (img as unknown as Img).naturalWidth > 0)
      );
      assert.ok(images.length >= 8 && images.every(Boolean), "every image loads");

      for (const [id, judgment] of CLICKS) {
        const card = page.locator(`.card[data-item="${id}"]`);
        const [response] = await Promise.all([
          page.waitForResponse((r) => r.url().endsWith("/judgments") && r.request().method() === "POST"),
          card.getByRole("button", { name: judgment, exact: true }).click(),
        ]);
        assert.equal(response.status(), 200, await response.text());
        await card.locator(".status", { hasText: `Judged: ${judgment}` }).waitFor();
        assert.equal(await card.getAttribute("class"), "card judged");
      }
      assert.equal(await page.locator("#progress").innerText(), "4 of 5 judged");

      // A reload shows each item's current judgment.
      await page.reload();
      const pressed = await page.locator('.card button[aria-pressed="true"]').evaluateAll((buttons) =>
        buttons.map((b) => `${b.closest(".card")!.getAttribute("data-item")}=${b.textContent}`)
      );
      assert.deepEqual(pressed, [
        "mistake:8=acceptable",
        "mistake:13=label is wrong",
        "adversarial:1=not acceptable",
        "adversarial:2=acceptable",
      ]);

      const lines = (await Deno.readTextFile(join(dir, JUDGMENTS_FILE))).trimEnd().split("\n");
      const records = lines.map((line) => JudgmentRecordSchema.parse(JSON.parse(line)));
      assert.deepEqual(records.map((r) => [r.item, r.judgment]), CLICKS);
      for (const r of records) {
        assert.equal(r.item, `${r.kind}:${r.index}`);
        assert.equal(r.explanationShown, shown[r.item], r.item);
        assert.ok(Math.abs(Date.parse(r.at) - Date.now()) < 600_000, r.at);
      }

      const report = JSON.parse(await Deno.readTextFile(join(dir, "report.json")));
      assert.deepEqual(report.review, EXPECTED);

      await page.goto(new URL("/report", server.url).href);
      const reviewText = await page.locator("#review").innerText();
      // rectified top-1, rectified robustness, agreement with and without explanation, lines.
      for (const figure of ["87.0%", "50.0%", "100.0%", "0.0%", "5 (0 malformed"]) {
        assert.ok(reviewText.includes(figure), `the report's review shows ${figure}: ${reviewText}`);
      }
      assert.ok((await page.locator("body").innerText()).includes(SCRIPT_NAME));
      assert.deepEqual(dialogs, [], "no script from the report ran");
    } finally {
      await browser?.close();
      await server.shutdown();
    }
  },
});
