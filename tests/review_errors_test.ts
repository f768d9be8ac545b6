/**
 * The review server serves only the report folder's own regular files, and a failure while
 * serving (judgments.jsonl gone unwritable) is a JSON error the page shows, one line on stderr,
 * and the server answers the next request.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { InputError } from "../pipeline/io/input_error.ts";
import { JUDGMENTS_FILE, startReviewServer } from "../pipeline/review/mod.ts";
import { sampleReportFolder } from "./report_fixture.ts";
import { launchChromium } from "./review_helpers.ts";
import { spawnCli } from "./cli_helpers.ts";

/** What a file outside the report folder holds; no answer may show it. */
const SECRET = "root:x:0:0:SECRET-5e1d";

async function secretFile(): Promise<string> {
  const path = join(await Deno.makeTempDir({ prefix: "review-secret-" }), "secret.txt");
  await Deno.writeTextFile(path, SECRET);
  return path;
}

/** `cli/review.ts` on `dir` as a child: its URL, and a stop that sends SIGINT and gives the exit code and stderr lines. */
async function reviewCli(dir: string) {
  const child = spawnCli("review", ["--report", dir, "--port", "0"], "piped");
  const stderr = new Response(child.stderr).text();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  while (!/http:\/\/\S+token=[0-9a-f]{64}\n/.test(out)) {
    const { value, done } = await reader.read();
    if (done) break;
    out += value;
  }
  const url = out.match(/http:\/\/\S+token=[0-9a-f]{64}/)?.[0];
  const stop = async () => {
    child.kill("SIGINT");
    const { code } = await child.status;
    await reader.cancel();
    const lines = (await stderr).split("\n").filter((l) => l.trim() && !l.includes("XDG_RUNTIME_DIR"));
    return { code, lines, stderr: await stderr };
  };
  if (!url) {
    const { lines } = await stop();
    throw new Error(`review printed no URL: ${out} ${lines.join("\n")}`);
  }
  return { url, stop };
}

Deno.test("the asset route answers 404 for a link under assets/ (to a file outside or inside) and for a FIFO", async () => {
  const { dir, report } = await sampleReportFolder();
  const secret = await secretFile();
  await Deno.symlink(secret, join(dir, "assets", "leak.png"));
  await Deno.symlink(join(dir, "report.json"), join(dir, "assets", "report.png"));
  const mkfifo = await new Deno.Command("mkfifo", { args: [join(dir, "assets", "pipe.png")] }).output();
  assert.equal(mkfifo.code, 0);
  const server = await startReviewServer({ dir, port: 0 });
  try {
    for (const path of ["assets/leak.png", "assets/report.png", "assets/pipe.png"]) {
      const response = await fetch(new URL(path, server.url));
      assert.equal(response.status, 404, path);
      const body = await response.text();
      assert.ok(!body.includes("SECRET") && !body.includes("schemaVersion"), path);
    }
    const image = report.explanations!.mistakes[0].image;
    const ok = await fetch(new URL(image, server.url));
    assert.equal(ok.status, 200);
    assert.deepEqual(new Uint8Array(await ok.arrayBuffer()), await Deno.readFile(join(dir, image)));
  } finally {
    await server.shutdown();
  }
});

Deno.test("a picture the report names that is a link is refused when the page is built, naming the file", async () => {
  const { dir, report } = await sampleReportFolder();
  const image = report.explanations!.mistakes[0].image;
  await Deno.remove(join(dir, image));
  await Deno.symlink(await secretFile(), join(dir, image));
  await assert.rejects(() => startReviewServer({ dir, port: 0 }), (e: Error) => {
    assert.ok(e instanceof InputError);
    assert.equal(e.message, `${join(dir, image)}: the report's picture is missing, a link, or not a regular file`);
    return true;
  });
  const page = await Deno.readTextFile(join(dir, "index.html")).catch(() => "");
  assert.ok(!page.includes(btoa(SECRET).slice(0, 16)), "the page embeds nothing of the file");
});

Deno.test("review CLI: judgments.jsonl that cannot be written is a JSON 500, one line on stderr, and the server goes on", async () => {
  const { dir, report } = await sampleReportFolder();
  const { url, stop } = await reviewCli(dir);
  const item = `mistake:${report.explanations!.mistakes[0].index}`;
  const token = new URL(url).searchParams.get("token");
  const post = () =>
    fetch(new URL("/judgments", url), {
      method: "POST",
      headers: { origin: new URL(url).origin, "content-type": "application/json", authorization: `Bearer ${token}` },
      body: JSON.stringify({ item, judgment: "acceptable" }),
    });
  let stopped = false;
  try {
    // Root may write through any mode bits, so the file is made a folder: no write can go through.
    await Deno.mkdir(join(dir, JUDGMENTS_FILE));
    const failed = await post();
    assert.equal(failed.status, 500);
    assert.match(failed.headers.get("content-type") ?? "", /^application\/json/);
    const { error } = await failed.json();
    assert.match(error, /judgments\.jsonl/);
    assert.ok(!error.includes("\n"), "one line");
    // The next requests are answered, and once the file can be written again the judgment is saved.
    const summary = await fetch(new URL("/summary", url));
    assert.equal(summary.status, 200);
    assert.equal((await summary.json()).mistakes.judged, 0);
    await Deno.remove(join(dir, JUDGMENTS_FILE));
    const saved = await post();
    assert.equal(saved.status, 200, await saved.clone().text());
    assert.equal((await saved.json()).mistakes.judged, 1);
    assert.equal((await Deno.readTextFile(join(dir, JUDGMENTS_FILE))).trimEnd().split("\n").length, 1);
    const { code, lines } = await stop();
    stopped = true;
    assert.equal(code, 0);
    assert.deepEqual(lines, [`review: POST /judgments: ${error}`]);
  } finally {
    if (!stopped) await stop();
  }
});

Deno.test("review page in Chromium: a judgment the server could not save shows the server's error on its card", async () => {
  const { dir } = await sampleReportFolder();
  const server = await startReviewServer({ dir, port: 0 });
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    await page.goto(server.reviewers[0].url);
    await Deno.mkdir(join(dir, JUDGMENTS_FILE));
    const card = page.locator(".card").first();
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith("/judgments") && r.request().method() === "POST"),
      card.getByRole("button", { name: "acceptable", exact: true }).click(),
    ]);
    assert.equal(response.status(), 500);
    const { error } = await response.json();
    await card.locator(".status", { hasText: `Not saved: ${error}` }).waitFor({ timeout: 10_000 });
    assert.notEqual(await card.getAttribute("class"), "card judged");
  } finally {
    await browser.close();
    await server.shutdown();
  }
});
