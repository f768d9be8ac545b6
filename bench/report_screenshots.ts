/**
 * Screenshots of an audit report for docs/: the top of index.html (summary), its bias section, its
 * review block when a study has been judged, and a reviewer's page, taken in Debian's chromium
 * (playwright-core). The review server runs on a copy of the report folder, so the report itself
 * is left as it was.
 *
 * deno run -A bench/report_screenshots.ts [REPORT_DIR] [DOCS_DIR]   (defaults: audit-report docs)
 */
import { cp } from "node:fs/promises";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { readReviewers, startReviewServer } from "../pipeline/review/mod.ts";

const [reportDir = "audit-report", docs = "docs"] = Deno.args;
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true, args: ["--no-sandbox"] });
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(`file://${Deno.realPathSync(join(reportDir, "index.html"))}`);
  // Full-page pictures: every lazy image loaded, and the sticky section bar kept at the top.
  await page.evaluate(`Promise.all([...document.images].map((image) => {
    image.loading = "eager";
    return image.decode().catch(() => {});
  }))`);
  await page.addStyleTag({ content: "nav { position: static !important; }" });
  await page.screenshot({
    path: join(docs, "report_summary.png"),
    fullPage: true,
    clip: { x: 0, y: 0, width: 1280, height: 1500 },
  });
  const bias = await page.$("#bias");
  if (bias) {
    const box = (await bias.boundingBox())!;
    await page.screenshot({
      path: join(docs, "report_bias.png"),
      fullPage: true,
      clip: { x: 0, y: box.y, width: 1280, height: Math.min(box.height, 1500) },
    });
  }
  // A report a study has been judged on has its review block; docs/report_review.png is that block.
  const review = await page.$("#review");
  if (review) await review.screenshot({ path: join(docs, "report_review.png") });
  const copyDir = await Deno.makeTempDir({ prefix: "review-shot-" });
  await cp(reportDir, copyDir, { recursive: true });
  // A study already under way keeps its reviewers; otherwise one is invited for the picture.
  const study = await readReviewers(copyDir) === null ? { reviewers: ["reviewer"], perItem: 1 } : {};
  const server = await startReviewServer({ dir: copyDir, port: 0, ...study });
  try {
    await page.goto(server.reviewers[0].url);
    await page.screenshot({
      path: join(docs, "review.png"),
      fullPage: true,
      clip: { x: 0, y: 0, width: 1280, height: 1500 },
    });
  } finally {
    await server.shutdown();
  }
} finally {
  await browser.close();
}
console.log(`wrote the screenshots into ${docs}/`);
