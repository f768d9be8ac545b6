import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { join } from "node:path";
import fc from "fast-check";
import { parseHTML } from "linkedom";
import { type AuditReport, AuditReportSchema } from "../pipeline/schema/report.ts";
import {
  confusionSvg,
  type HtmlValue,
  joinHtml,
  raw,
  renderReportHtml,
  safeHtml,
  sanitySvg,
  writeReportHtml,
} from "../pipeline/report/mod.ts";
import { HOSTILE, hostileReport, sampleReportFolder } from "./report_fixture.ts";

const SCRIPT_NAME = "<script>alert(1)</script>";
const MODEL_NAME = `Tom & "Jerry's" <net></title>`;

/** Every string in the report that names an asset, found by walking the JSON (not by the renderer's list). */
function assetStrings(value: unknown, found = new Set<string>()): Set<string> {
  if (typeof value === "string" && value.startsWith("assets/")) found.add(value);
  else if (Array.isArray(value)) value.forEach((v) => assetStrings(v, found));
  else if (value !== null && typeof value === "object") Object.values(value).forEach((v) => assetStrings(v, found));
  return found;
}

const reader = (dir: string) => (path: string) => Deno.readFile(join(dir, path));

/** The parsed document; untyped because linkedom's types need the DOM lib, which Deno leaves out. */
// deno-lint-ignore no-explicit-any
function parse(html: string): any {
  return (parseHTML(html) as unknown as { document: unknown }).document;
}

/** The report with class `label` renamed everywhere the report names it. */
function renamed(report: AuditReport, label: number, name: string): AuditReport {
  return {
    ...report,
    model: { ...report.model, classes: report.model.classes.map((c, i) => (i === label ? name : c)) },
    accuracy: {
      ...report.accuracy,
      perClass: report.accuracy.perClass.map((c) => (c.label === label ? { ...c, name } : c)),
    },
    bias: report.bias && {
      ...report.bias,
      classes: report.bias.classes.map((c) => (c.label === label ? { ...c, name } : c)),
    },
  };
}

const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47];

Deno.test("report fixture: report.json is schema-valid, equals the returned report, and its assets are PNG files", async () => {
  for (const options of [{}, { explanations: false, bias: false, review: true }]) {
    const { dir, report } = await sampleReportFolder(options);
    try {
      const stored = AuditReportSchema.parse(JSON.parse(await Deno.readTextFile(join(dir, "report.json"))));
      assert.deepEqual(stored, report);
      const a = report.accuracy;
      assert.equal(a.confusion.flat().reduce((s, v) => s + v, 0), a.count);
      assert.equal(a.top1, (a.count - report.mistakes.count) / a.count);
      const assets = assetStrings(report);
      assert.equal(assets.size > 0, report.explanations !== null || report.bias !== null);
      for (const path of assets) {
        assert.deepEqual([...(await Deno.readFile(join(dir, path))).subarray(0, 4)], PNG_MAGIC);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
});

/** The five entities the pages use, written out by hand. */
const ENTITY = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" } as const;
const escaped = (text: string) => [...text].map((c) => ENTITY[c as keyof typeof ENTITY] ?? c).join("");
const unescaped = (markup: string) =>
  markup.replace(
    /&(amp|lt|gt|quot|#39);/g,
    (e) => ({ "&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": '"', "&#39;": "'" })[e]!,
  );

/** `safeHtml` called as a template would call it, with literal parts `strings`. */
function template(strings: string[], values: HtmlValue[]): string {
  return String(safeHtml(Object.assign([...strings], { raw: strings }), ...values));
}

const anyText = fc.oneof(
  fc.string({ unit: "binary" }),
  fc.string({ unit: "grapheme" }),
  fc.constantFrom(HOSTILE, "&amp;"),
);

Deno.test("safeHtml: an interpolated string comes out with no < > \" ' and no & but the five entities, and reads back as itself", () => {
  fc.assert(
    fc.property(anyText, (text) => {
      const markup = String(safeHtml`${text}`);
      assert.doesNotMatch(markup, /[<>"']/);
      assert.doesNotMatch(markup, /&(?!(amp|lt|gt|quot|#39);)/);
      assert.equal(unescaped(markup), text);
      assert.equal(markup, escaped(text));
    }),
  );
  // An HTML parser reads the text back, as element text and as an attribute value.
  fc.assert(
    fc.property(fc.string(), (text) => {
      const p = parse(String(safeHtml`<p title="${text}">${text}</p>`)).querySelector("p");
      assert.equal(p.textContent, text);
      assert.equal(p.getAttribute("title"), text);
    }),
  );
});

Deno.test("safeHtml: literal parts and safe values pass through unchanged; numbers, arrays and nothing as documented", () => {
  fc.assert(
    fc.property(fc.array(anyText, { minLength: 1, maxLength: 4 }), anyText, anyText, (strings, text, markup) => {
      const values = strings.slice(1).map(() => text);
      assert.equal(template(strings, values), strings.join(escaped(text)));
      assert.equal(String(safeHtml`<b>${raw(markup)}</b>`), `<b>${markup}</b>`);
      assert.equal(String(safeHtml`${safeHtml`<i>${text}</i>`}`), `<i>${escaped(text)}</i>`);
      assert.equal(String(safeHtml`${[text, raw(markup), [text]]}`), escaped(text) + markup + escaped(text));
      assert.equal(String(joinHtml([raw(markup), text], text)), markup + escaped(text) + escaped(text));
    }),
  );
  fc.assert(fc.property(fc.double(), (n) => assert.equal(String(safeHtml`${n}`), String(n))));
  assert.equal(String(safeHtml`a${null}${undefined}${false}${""}${[]}b${0}`), "ab0");
});

Deno.test("report html: self-contained: images are data URIs, links are in-page, no URL, script, font or stylesheet link", async () => {
  const { dir, report } = await sampleReportFolder({ review: true });
  try {
    const html = await renderReportHtml(report, reader(dir));
    const document = parse(html);
    const sources = [...document.querySelectorAll("[src]")].map((e) => e.getAttribute("src"));
    assert.ok(sources.length > 0);
    for (const src of sources) assert.match(src, /^data:image\/png;base64,[A-Za-z0-9+/]+=*$/);
    for (const a of document.querySelectorAll("[href]")) {
      const href = a.getAttribute("href");
      assert.match(href, /^#/);
      assert.ok(document.getElementById(href.slice(1)), `link ${href} has a target`);
    }
    assert.doesNotMatch(html, /(src|href)\s*=\s*["']?\s*(https?:|\/\/)/i);
    assert.doesNotMatch(html, /url\(/i);
    assert.doesNotMatch(html, /https?:\/\//i);
    assert.doesNotMatch(html, /<script|<link|@import|@font-face/i);
    // And should markup slip through, the page's policy runs no script and loads nothing from elsewhere.
    const policy = document.querySelector('meta[http-equiv="Content-Security-Policy"]').getAttribute("content");
    assert.equal(
      policy,
      "default-src 'none'; img-src data: 'self'; style-src 'unsafe-inline'; script-src 'none'",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("report html: every asset the report names is embedded as its file's base64", async () => {
  const { dir, report } = await sampleReportFolder();
  try {
    const html = await renderReportHtml(report, reader(dir));
    const assets = assetStrings(report);
    assert.ok(assets.size >= 10, "the fixture names mistakes, adversarial, sanity and bias assets");
    for (const path of assets) {
      const base64 = Buffer.from(await Deno.readFile(join(dir, path))).toString("base64");
      assert.ok(html.includes(`src="data:image/png;base64,${base64}"`), `${path} is embedded`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("report html: charts are inline SVG in their sections; cards and bias classes follow the report", async () => {
  const { dir, report } = await sampleReportFolder();
  try {
    const document = parse(await renderReportHtml(report, reader(dir)));
    const svgs = (id: string) => document.querySelectorAll(`#${id} svg`).length;
    assert.equal(svgs("accuracy"), 2, "reliability diagram and confusion matrix");
    assert.equal(svgs("robustness"), 2, "curves and smallest-epsilon histogram");
    assert.equal(svgs("sanity"), 1);
    const e = report.explanations!;
    assert.equal(document.querySelectorAll("#mistakes .card.mistake").length, e.mistakes.length);
    assert.equal(document.querySelectorAll("#robustness .card.adversarial").length, e.adversarial.length);
    // Confusion counts are drawn: the diagonal's counts are among the chart's texts.
    const texts = [...document.querySelectorAll("#accuracy svg text")].map((t) => t.textContent);
    for (let c = 0; c < report.model.classes.length; c++) {
      assert.ok(texts.includes(String(report.accuracy.confusion[c][c])));
    }
    const articles = [...document.querySelectorAll("#bias article.bias-class")];
    assert.equal(articles.length, report.bias!.classes.length);
    const flagged = report.bias!.classes.find((c) => c.flagged)!;
    assert.equal(articles[0].getAttribute("data-class"), String(flagged.label), "flagged classes first");
    assert.ok(articles[0].textContent.includes(flagged.flaggedGroups[0]));
    assert.equal(articles[0].querySelectorAll("table").length, 2, "group findings and MMD tests");
    assert.equal(document.querySelector("#review"), null, "no review figures before any review");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("report html: with 40 classes the heatmap shows the 30 most confused, and says so", async () => {
  const classNames = Array.from({ length: 40 }, (_, i) => `class-${i}`);
  const { dir, report } = await sampleReportFolder({ classNames, explanations: false, bias: false });
  try {
    const document = parse(await renderReportHtml(report, reader(dir)));
    const heatmap = [...document.querySelectorAll("#accuracy figure")].find((f) => f.textContent.includes("predicted"));
    assert.equal(heatmap.querySelectorAll("rect").length, 30 * 30);
    assert.ok(heatmap.querySelector("figcaption").textContent.includes("30 most confused of 40 classes"));
    assert.equal(document.querySelectorAll("#per-class tbody tr").length, 40);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("report html: with 40 classes, hostile names in the confused pairs and the sortable table are text; the one script is the page's own, allowed by its hash", async () => {
  const classNames = Array.from({ length: 40 }, (_, i) => `class-${i}`);
  const { dir, report } = await sampleReportFolder({ classNames, explanations: false });
  try {
    const page = await renderReportHtml(hostileReport(report), reader(dir));
    const document = parse(page);
    const scripts = [...document.querySelectorAll("script")];
    assert.equal(scripts.length, 1);
    assert.equal(scripts[0].getAttribute("src"), null);
    assert.equal(document.querySelectorAll("i").length, 0);
    for (const element of document.querySelectorAll("*")) {
      for (const name of element.getAttributeNames()) assert.doesNotMatch(name, /^on/i, `${element.tagName} ${name}`);
    }
    // The policy names the script's SHA-256, computed here with node:crypto.
    const hash = createHash("sha256").update(scripts[0].textContent).digest("base64");
    const policy = document.querySelector('meta[http-equiv="Content-Security-Policy"]').getAttribute("content");
    assert.ok(policy.endsWith(`script-src 'sha256-${hash}'`), policy);
    assert.equal(document.querySelector("#per-class").getAttribute("class"), "sortable");
    assert.equal(document.querySelector('#per-class tr[data-key="1"] td.name').textContent, `class-1${HOSTILE}`);
    const pairs = [...document.querySelectorAll("#confused-pairs tbody tr")];
    assert.equal(pairs.length, 30);
    const first = report.mistakes.items.find((m) => `${m.label}-${m.predicted}` === pairs[0].getAttribute("data-key"))!;
    assert.ok(pairs[0].textContent.includes(`class-${first.label}${HOSTILE}`));
    assert.ok(document.getElementById("accuracy").textContent.includes(`hierarchy.json${HOSTILE}`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("report html: among 40 classes, those no image was predicted as are one folded line, not rows", async () => {
  const classNames = Array.from({ length: 40 }, (_, i) => `class-${i}`);
  const { dir, report } = await sampleReportFolder({ classNames, explanations: false });
  try {
    const bias = report.bias!;
    // 40 classes like the fixture's unflagged class 0; the pools of classes 30-39 are empty.
    const template = bias.classes.find((c) => !c.flagged)!;
    const emptied = classNames.map((name, label) =>
      label >= 30
        ? { ...template, label, name, poolSize: 0, prototypes: [], criticisms: [], grid: undefined }
        : { ...template, label, name }
    );
    const document = parse(await renderReportHtml({ ...report, bias: { ...bias, classes: emptied } }, reader(dir)));
    const rows = [...document.querySelectorAll("#bias article")].map((a) => Number(a.getAttribute("data-class")));
    const expected = emptied.filter((c) => c.poolSize > 0 || c.flagged).map((c) => c.label);
    assert.deepEqual([...rows].sort((a, b) => a - b), expected.sort((a, b) => a - b));
    const line = document.querySelector("#bias details.empty-classes");
    const empty = emptied.filter((c) => c.poolSize === 0 && !c.flagged);
    assert.ok(
      line.querySelector("summary").textContent.startsWith(`${empty.length} classes no image was predicted as`),
    );
    assert.equal(line.querySelector("p").textContent, empty.map((c) => `${c.name} #${c.label}`).join(", "));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("report html: without explanations and bias, with a review: sections present and absent accordingly", async () => {
  const { dir, report } = await sampleReportFolder({ explanations: false, bias: false, review: true });
  try {
    const html = await renderReportHtml(report, reader(dir));
    const document = parse(html);
    for (const id of ["summary", "accuracy", "mistakes", "robustness", "review"]) {
      assert.ok(document.getElementById(id), `#${id} present`);
    }
    for (const id of ["sanity", "bias", "adversarial"]) {
      assert.equal(document.getElementById(id), null, `#${id} absent`);
    }
    assert.deepEqual(
      [...document.querySelectorAll("nav a")].map((a) => a.getAttribute("href")),
      ["#summary", "#accuracy", "#mistakes", "#robustness"],
    );
    assert.equal(document.querySelectorAll(".card").length, 0);
    assert.equal(document.querySelectorAll("#mistakes-table tbody tr").length, report.mistakes.count);
    assert.equal(document.querySelectorAll("img").length, 0);
    const review = document.getElementById("review").textContent;
    assert.ok(review.includes(`${(100 * report.review!.rectifiedTop1).toFixed(1)}%`));
    assert.ok(review.includes(`${(100 * report.review!.agreement.withExplanation!).toFixed(1)}%`));
    assert.ok(document.getElementById("summary").textContent.includes("Bias stage skipped"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("report html: a class named <script> and a model name with & \" ' < > render as text, charts included", async () => {
  const { dir, report } = await sampleReportFolder({ classNames: ["cat", SCRIPT_NAME, "sparrow", "trout"] });
  try {
    const html = await renderReportHtml({ ...report, model: { ...report.model, name: MODEL_NAME } }, reader(dir));
    assert.ok(html.includes("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert.ok(html.includes("Tom &amp; &quot;Jerry&#39;s&quot; &lt;net&gt;&lt;/title&gt;"));
    assert.doesNotMatch(html, /<script/i);
    assert.ok(!html.includes(MODEL_NAME));
    const document = parse(html);
    assert.equal(document.querySelectorAll("script").length, 0);
    assert.equal(document.querySelector("title").textContent, `Audit of ${MODEL_NAME}`);
    assert.ok(document.body.textContent.includes(SCRIPT_NAME));
    assert.equal(document.querySelector('#per-class tr[data-key="1"] td.name').textContent, SCRIPT_NAME);
    const heatmap = [...document.querySelectorAll("#accuracy svg")].find((s) => s.textContent.includes("predicted"));
    assert.ok(heatmap.outerHTML.includes("&lt;script&gt;alert(1)&lt;"), "the tick label is escaped in the SVG");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("report html: every string of the report, made hostile, is shown as text and only as text", async () => {
  const { dir, report } = await sampleReportFolder({ review: true });
  try {
    const page = await renderReportHtml(hostileReport(report), reader(dir));
    // Unescaped, the payload would make a script, <i> elements and onmouseover attributes (in any case:
    // the attack's name is shown upper-cased).
    assert.doesNotMatch(page, /<script|<i[ >]|onmouseover="/i);
    const document = parse(page);
    assert.equal(document.querySelectorAll("script, i").length, 0);
    for (const element of document.querySelectorAll("*")) {
      for (const name of element.getAttributeNames()) assert.doesNotMatch(name, /^on/i, `${element.tagName} ${name}`);
    }
    // Shown as text: names in cells and headings, the attack's name, a stage of the timings, an image's alt text.
    assert.equal(document.querySelector('#per-class tr[data-key="1"] td.name').textContent, `dog${HOSTILE}`);
    assert.equal(document.querySelector("title").textContent, `Audit of sample-convnet${HOSTILE}`);
    const text = document.body.textContent;
    const shownHostile = [`PGD${HOSTILE.toUpperCase()}`, `evaluate${HOSTILE}`, `hierarchy.json${HOSTILE}`];
    for (const shown of [...shownHostile, `gl${HOSTILE}`, `Mesa 22.3.6${HOSTILE}`]) {
      assert.ok(text.includes(shown), shown);
    }
    const alts = [...document.querySelectorAll("#bias img")].map((img) => img.getAttribute("alt"));
    assert.ok(alts.includes(`prototypes and criticisms of dog${HOSTILE}`), alts.join());
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** The summary's fact rows, label to cell text. */
// deno-lint-ignore no-explicit-any
const summaryFacts = (document: any): Map<string, string> =>
  new Map(
    [...document.querySelectorAll("#summary table.facts tr")].map((tr) => [
      tr.querySelector("th").textContent,
      tr.querySelector("td").textContent,
    ]),
  );

Deno.test("report html: the summary names the backend, how it was chosen and the driver, escaped; an older report shows neither row", async () => {
  const { dir, report } = await sampleReportFolder({ explanations: false, bias: false });
  try {
    const adapter = { ...report.adapter, backend: `gl<b>&"`, driver: "", backendChoice: "cached" as const };
    const html = await renderReportHtml({ ...report, adapter }, reader(dir));
    assert.ok(html.includes("gl&lt;b&gt;&amp;&quot;"));
    assert.doesNotMatch(html, /<b>/);
    const rows = summaryFacts(parse(html));
    assert.equal(rows.get("adapter"), "llvmpipe (LLVM 15.0.6, 256 bits) (mesa) fallback adapter");
    assert.equal(rows.get("backend"), `gl<b>&" (measured fastest here, from the cache)`);
    assert.equal(rows.get("driver"), "unknown");
    const { backend: _b, driver: _d, backendChoice: _c, ...older } = report.adapter;
    const olderRows = summaryFacts(parse(await renderReportHtml({ ...report, adapter: older }, reader(dir))));
    assert.equal(olderRows.get("adapter"), rows.get("adapter"));
    assert.ok(!olderRows.has("backend") && !olderRows.has("driver"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("plots: class and layer names reach the SVG as escaped text", () => {
  const confusion = String(confusionSvg([[2, 1], [0, 3]], [`<b>&'"`, "</svg><i>"]));
  assert.ok(confusion.includes(`&lt;b&gt;&amp;'"`));
  assert.ok(confusion.includes("&lt;/svg&gt;&lt;i&gt;"));
  assert.doesNotMatch(confusion, /<b>|<i>|<\/svg>.+<\/svg>/s);
  const sanity = String(sanitySvg([{
    method: "gradient",
    stages: [{ layer: null, spearman: 1 }, { layer: "<x&y>", spearman: 0.2 }],
  }]));
  assert.ok(sanity.includes("&lt;x&amp;y&gt;"));
  assert.equal(parse(`<div>${sanity}</div>`).querySelectorAll("svg").length, 1);
});

Deno.test("report html: any unicode class name is the exact text of its cells, and the page's shape does not depend on it", async () => {
  const { dir, report } = await sampleReportFolder();
  try {
    const read = reader(dir);
    const flagged = report.bias!.classes.find((c) => c.flagged)!.label;
    const elements = async (name: string) => {
      const document = parse(await renderReportHtml(renamed(report, flagged, name), read));
      return { document, count: document.querySelectorAll("*").length };
    };
    const { count: expected } = await elements("plain");
    const tricky = fc.constantFrom(
      "",
      " ",
      "a\nb",
      "x\r\ny",
      "\u0000",
      "&amp;",
      "<!--",
      "]]>",
      "</td></tr>",
      SCRIPT_NAME,
    );
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.string({ unit: "binary" }), fc.string({ unit: "grapheme" }), tricky),
        async (name) => {
          const { document, count } = await elements(name);
          assert.equal(document.querySelector(`#per-class tr[data-key="${flagged}"] td.name`).textContent, name);
          assert.equal(document.querySelector(`#summary li[data-class="${flagged}"] .name`).textContent, name);
          assert.equal(document.querySelector(`#bias article[data-class="${flagged}"] h3 .name`).textContent, name);
          assert.equal(count, expected);
        },
      ),
      { numRuns: 60 },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeReportHtml: writes index.html in the folder, as rendered; a missing asset fails naming it", async () => {
  const { dir, report } = await sampleReportFolder();
  try {
    const path = await writeReportHtml(dir, report);
    assert.equal(path, join(dir, "index.html"));
    assert.equal(await Deno.readTextFile(path), await renderReportHtml(report, reader(dir)));
    const missing = report.explanations!.mistakes[0].image;
    await Deno.remove(join(dir, missing));
    await assert.rejects(() => writeReportHtml(dir, report), (e: Error) => e.message.includes(missing));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
