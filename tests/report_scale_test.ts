import assert from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { chromium, type Page } from "playwright-core";
import { writeReportHtml } from "../pipeline/report/mod.ts";
import { TOP_SLICES } from "../pipeline/report/sections/bias_findings.ts";
import { AuditReportSchema } from "../pipeline/schema/report.ts";
import { FLAG_EVERY, FLAGGED_REMAINDER, largeReportFolder } from "./report_scale_fixture.ts";

const CLASSES = 1000;
const MB = 1024 * 1024;
// The bounds for a 1,000-class report: it opens in Chromium in under 2 s and stays under 50 MB.
const OPEN_MS = 2000;
const TOTAL_BYTES = 50 * MB;

type Row = { hidden: boolean; dataset: { key: string } };
type Img = { naturalWidth: number; naturalHeight: number };
type Styled = { getComputedStyle: (element: unknown) => { imageRendering: string } };

/** The `data-key`s of the per-class table's rows in page order; with `visibleOnly`, the rows not filtered out. */
async function rowKeys(page: Page, visibleOnly = false): Promise<number[]> {
  const keys = await page.locator("#per-class tbody tr").evaluateAll(
    (rows, only) => (rows as unknown as Row[]).filter((r) => !only || !r.hidden).map((r) => r.dataset.key),
    visibleOnly,
  );
  return keys.map(Number);
}

/** Bytes and count of the assets of each kind: a name's letters, its numbers dropped ("adversarial-clean-saliency.jpg"). */
async function assetKinds(dir: string): Promise<Map<string, { files: number; bytes: number }>> {
  const kinds = new Map<string, { files: number; bytes: number }>();
  for await (const entry of Deno.readDir(dir)) {
    const kind = entry.name.replace(/-\d+/, "");
    const sum = kinds.get(kind) ?? { files: 0, bytes: 0 };
    kinds.set(kind, { files: sum.files + 1, bytes: sum.bytes + (await Deno.stat(join(dir, entry.name))).size });
  }
  return kinds;
}

async function folderBytes(dir: string): Promise<number> {
  let total = 0;
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    total += entry.isDirectory ? await folderBytes(path) : (await Deno.stat(path)).size;
  }
  return total;
}

Deno.test({
  name:
    "report at 1,000 classes: opens in Chromium in under 2 s, under 50 MB, no 1000x1000 grid, class table sorts and filters",
  async fn() {
    const drawing = performance.now();
    const { dir, report } = await largeReportFolder({ classes: CLASSES });
    console.log(
      `1,000-class report folder written, its pictures drawn, in ${(performance.now() - drawing).toFixed(0)} ms`,
    );
    let browser;
    try {
      const stored = AuditReportSchema.parse(JSON.parse(await Deno.readTextFile(join(dir, "report.json"))));
      assert.equal(stored.model.classes.length, CLASSES);
      assert.equal(stored.accuracy.confusion.length, CLASSES);
      assert.equal(stored.bias!.classes.length, CLASSES);
      const started = performance.now();
      const path = await writeReportHtml(dir, report);
      const renderMs = performance.now() - started;

      // What a user gets: index.html, report.json and the assets, every file of the folder.
      const sizes = {
        html: (await Deno.stat(path)).size,
        json: (await Deno.stat(join(dir, "report.json"))).size,
        assets: await folderBytes(join(dir, "assets")),
        total: await folderBytes(dir),
      };

      for (const [kind, { files, bytes }] of [...await assetKinds(join(dir, "assets"))].sort()) {
        console.log(
          `  ${kind}: ${files} files, ${(bytes / files / 1024).toFixed(1)} KB each, ${(bytes / MB).toFixed(2)} MB`,
        );
      }
      // The photographs are JPEG.
      const pictures = [...report.bias!.classes.map((c) => c.grid!), report.explanations!.mistakes[0].image];
      assert.ok(pictures.every((p) => p.endsWith(".jpg")), `not JPEG: ${pictures.find((p) => !p.endsWith(".jpg"))}`);

      browser = await chromium.launch({
        executablePath: "/usr/bin/chromium",
        headless: true,
        args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
      });
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
      page.on("pageerror", (e) => errors.push(e.message));
      await page.goto(pathToFileURL(path).href, { waitUntil: "load" });
      await page.waitForFunction(() =>
        (performance.getEntriesByType("navigation")[0] as unknown as { loadEventEnd: number }).loadEventEnd > 0
      );
      const timing = await page.evaluate(() => {
        const n = performance.getEntriesByType("navigation")[0] as unknown as {
          domContentLoadedEventEnd: number;
          loadEventEnd: number;
        };
        return { domContentLoaded: n.domContentLoadedEventEnd, load: n.loadEventEnd };
      });
      const elements = await page.locator("*").count();
      console.log(
        `1,000-class report: rendered in ${renderMs.toFixed(0)} ms; index.html ${(sizes.html / MB).toFixed(2)} MB, ` +
          `report.json ${(sizes.json / MB).toFixed(2)} MB, assets ${(sizes.assets / MB).toFixed(2)} MB, ` +
          `folder ${(sizes.total / MB).toFixed(2)} MB; Chromium: DOMContentLoaded ${
            timing.domContentLoaded.toFixed(0)
          } ms, ` +
          `load ${timing.load.toFixed(0)} ms, ${elements} elements`,
      );
      // The measured bounds the issue demands.
      assert.ok(sizes.total < TOTAL_BYTES, `the report folder is ${sizes.total} bytes`);
      assert.ok(timing.domContentLoaded < OPEN_MS, `DOMContentLoaded after ${timing.domContentLoaded} ms`);
      assert.ok(timing.load < OPEN_MS, `load after ${timing.load} ms`);

      // No 1000x1000 grid, nor any heatmap: the page's SVG cells are the charts' few bars.
      assert.ok(await page.locator("svg rect").count() < 100);
      assert.ok((await page.locator("#accuracy").innerText()).includes("No confusion matrix drawn for 1000 classes"));

      // The most confused pairs, counted here from each image's label and top-1.
      const pairs = new Map<string, number>();
      for (const im of report.images) {
        if (im.top[0] !== im.label) {
          pairs.set(`${im.label}-${im.top[0]}`, (pairs.get(`${im.label}-${im.top[0]}`) ?? 0) + 1);
        }
      }
      const expectedPairs = [...pairs].map(([key, count]) => ({ key, count, pair: key.split("-").map(Number) }))
        .sort((a, b) => b.count - a.count || a.pair[0] - b.pair[0] || a.pair[1] - b.pair[1]).slice(0, 30);
      const pairRows = page.locator("#confused-pairs tbody tr");
      assert.deepEqual(
        await pairRows.evaluateAll((rows) => (rows as unknown as Row[]).map((r) => r.dataset.key)),
        expectedPairs.map((p) => p.key),
      );
      const firstPair = await pairRows.first().locator("td").allInnerTexts();
      const [label, predicted] = expectedPairs[0].pair;
      // 4 of the label's 5 images; the fixture's superclasses are the halves of the classes: 4 edges apart.
      assert.deepEqual(firstPair.slice(2), ["4", "80.0%", "4"]);
      assert.ok(
        firstPair[0].includes(report.model.classes[label]) && firstPair[1].includes(report.model.classes[predicted]),
      );
      const pairsBlock = await page.locator("#accuracy .block", { has: pairRows.first() }).innerText();
      assert.ok(pairsBlock.includes("hierarchy distance") && pairsBlock.includes(report.config.hierarchy));

      // The per-class table: all rows, sortable by heading, filtered by name, by the page's own script.
      assert.deepEqual(errors, [], "no script error, no blocked script or image");
      assert.equal(await page.locator("script").count(), 1);
      assert.equal(await page.locator("script[src]").count(), 0);
      const classes = report.accuracy.perClass;
      assert.deepEqual(await rowKeys(page), classes.map((c) => c.label));
      assert.equal(await page.locator(".table-tools .shown").innerText(), "1000 of 1000 rows");
      const heading = (title: string) => page.locator("#per-class thead button", { hasText: title });
      const sorted = (compare: (a: (typeof classes)[number], b: (typeof classes)[number]) => number) =>
        [...classes].sort((a, b) => compare(a, b) || a.label - b.label).map((c) => c.label);
      await heading("accuracy").click();
      assert.deepEqual(await rowKeys(page), sorted((a, b) => a.accuracy! - b.accuracy!));
      await heading("accuracy").click();
      assert.deepEqual(await rowKeys(page), sorted((a, b) => b.accuracy! - a.accuracy!));
      await heading("class").click();
      const byName = sorted((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      assert.deepEqual(await rowKeys(page), byName);
      await page.locator(".table-tools input").fill("KALO");
      const matching = byName.filter((label) => classes[label].name.includes("kalo"));
      assert.ok(matching.length > 0 && matching.length < CLASSES);
      assert.deepEqual(await rowKeys(page, true), matching);
      assert.equal(await page.locator(".table-tools .shown").innerText(), `${matching.length} of 1000 rows`);
      await page.locator(".table-tools input").fill("");
      assert.equal((await rowKeys(page, true)).length, CLASSES);

      // Bias classes fold: the flagged first and open, the rest closed, their grids not loaded at open.
      const flagged = classes.map((c) => c.label).filter((l) => l % FLAG_EVERY === FLAGGED_REMAINDER);
      const articles = page.locator("#bias article.bias-class");
      assert.equal(await articles.count(), CLASSES);
      const openClasses = await page.locator("#bias article > details[open]").evaluateAll((all) =>
        all.map((d) => Number(d.parentElement!.getAttribute("data-class")))
      );
      assert.deepEqual(openClasses, flagged);
      // The summary names the first 20 flagged classes and counts the rest.
      assert.ok(flagged.length > 20);
      assert.deepEqual(
        await page.locator("#summary li[data-class]").evaluateAll((li) =>
          li.map((l) => Number(l.getAttribute("data-class")))
        ),
        flagged.slice(0, 20),
      );
      assert.ok((await page.locator("#summary").innerText()).includes(`and ${flagged.length - 20} more, in Biases`));
      const grids = page.locator("#bias img");
      const loaded = async () => (await grids.evaluateAll((imgs) =>
        (imgs as unknown as Img[]).filter((i) =>
          i.naturalWidth > 0
        ).length
      ));
      const loadedAtOpen = await loaded();
      console.log(`bias grids loaded at open: ${loadedAtOpen} of ${await grids.count()}`);
      // The findings' first TOP_SLICES slices show their pictures; the others are folded.
      assert.ok(loadedAtOpen <= flagged.length + TOP_SLICES);
      const findings = page.locator("#bias .bias-findings");
      const topRows = findings.locator("table").first().locator("tbody tr");
      assert.equal(await topRows.count(), TOP_SLICES);
      // Ranked by adjusted p: the flagged classes in label order.
      const firstCells = await topRows.first().locator("td").allInnerTexts();
      assert.ok(firstCells[1].includes(report.model.classes[flagged[0]]), firstCells.join(" | "));
      assert.ok(firstCells[3].includes("15/20 (75.0%, 95% CI 53.0%–89.0%)"), firstCells.join(" | "));
      const more = findings.locator("details.more-slices");
      assert.equal(await more.getAttribute("open"), null);
      assert.ok((await more.locator("summary").innerText()).includes(`${flagged.length - TOP_SLICES} more slices`));
      // Opening a folded class loads its grid, a file beside the page, at its stated size.
      const folded = page.locator('#bias article[data-class="3"]');
      await folded.locator("summary").click();
      const img = folded.locator("img");
      await img.scrollIntoViewIfNeeded();
      await page.waitForFunction((i) => (i as unknown as Img).naturalWidth > 0, await img.elementHandle());
      const grid = await img.evaluate((i) => ({
        natural: (i as unknown as Img).naturalWidth,
        naturalHeight: (i as unknown as Img).naturalHeight,
        stated: Number(i.getAttribute("width")),
        statedHeight: Number(i.getAttribute("height")),
        rendering: (globalThis as unknown as Styled).getComputedStyle(i).imageRendering,
        src: i.getAttribute("src"),
      }));
      assert.equal(grid.src, "assets/bias-3.jpg");
      assert.ok(grid.natural === grid.stated && grid.naturalHeight === grid.statedHeight, JSON.stringify(grid));
      // The 224 px photos in 56 px cells, 2 px apart: 8 prototypes, a blank, 4 criticisms, a blank, the saliency.
      assert.deepEqual([grid.natural, grid.naturalHeight], [15 * (56 + 2) + 2, 56 + 2 * 2]);
      assert.equal(grid.rendering, "auto", "a photograph is scaled smoothly, not pixelated");
      assert.deepEqual(errors, []);

      // Without JavaScript the table is all there, unsorted, with no controls.
      const plain = await browser.newPage({ javaScriptEnabled: false });
      await plain.goto(pathToFileURL(path).href, { waitUntil: "load" });
      assert.deepEqual(await rowKeys(plain), classes.map((c) => c.label));
      assert.equal(await plain.locator(".table-tools").count(), 0);
    } finally {
      await browser?.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
