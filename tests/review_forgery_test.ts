/**
 * The review server lets in only its reviewers: a page on another origin (fetch with text/plain,
 * a form post, a JSON fetch), a request naming another Host (DNS rebinding), one without or with a
 * wrong token, one too large, each is refused and nothing is written; fuzzed bodies are 4xx, the
 * server stays up, and no malformed line reaches judgments.jsonl.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import fc from "fast-check";
import { BODY_LIMIT, JudgmentRecordSchema, JUDGMENTS_FILE, startReviewServer } from "../pipeline/review/mod.ts";
import { InputError } from "../pipeline/io/input_error.ts";
import { sampleReportFolder } from "./report_fixture.ts";
import { launchChromium, postJudgment, tokenOf } from "./review_helpers.ts";

const BODY = JSON.stringify({ item: "mistake:8", judgment: "acceptable" });

async function written(dir: string): Promise<string | null> {
  return await Deno.readTextFile(join(dir, JUDGMENTS_FILE)).catch(() => null);
}

/** An HTTP/1.1 request written by hand, so that every header (Host included) is exactly as given. */
async function rawRequest(port: number, head: string, body: string): Promise<{ status: number; text: string }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const bytes = new TextEncoder().encode(body);
    await conn.write(
      new TextEncoder().encode(`${head}\r\nContent-Length: ${bytes.length}\r\nConnection: close\r\n\r\n`),
    );
    await conn.write(bytes);
    const text = await new Response(conn.readable).text();
    return { status: Number(text.split(" ")[1]), text };
  } catch (e) {
    conn.close();
    throw e;
  }
}

Deno.test("forged requests from outside the review page are refused, each with its reason, and nothing is written", async () => {
  const { dir } = await sampleReportFolder();
  const server = await startReviewServer({ dir, port: 0, reviewers: ["ann", "bo"], perItem: 1 });
  const port = Number(new URL(server.url).port);
  const token = tokenOf(server, 0);
  try {
    const cases: [string, Promise<Response | { status: number; text: string }>, number][] = [
      [
        "text/plain from a foreign origin",
        postJudgment(server, { origin: "http://evil.example", contentType: "text/plain", body: BODY }),
        403,
      ],
      [
        "JSON from a foreign origin, with the token",
        postJudgment(server, { origin: "http://evil.example", body: BODY }),
        403,
      ],
      ["text/plain from the right origin", postJudgment(server, { contentType: "text/plain", body: BODY }), 415],
      [
        "a form's content type",
        postJudgment(server, { contentType: "application/x-www-form-urlencoded", body: "item=mistake:8" }),
        415,
      ],
      ["no Origin and no Sec-Fetch-Site", postJudgment(server, { origin: null, body: BODY }), 403],
      ["no token", postJudgment(server, { token: null, body: BODY }), 401],
      ["a wrong token", postJudgment(server, { token: "0".repeat(64), body: BODY }), 401],
      ["a token one digit short", postJudgment(server, { token: token.slice(0, -1), body: BODY }), 401],
      ["a body over the limit", postJudgment(server, { body: " ".repeat(BODY_LIMIT + 1) }), 413],
      [
        "a foreign Host (DNS rebinding)",
        rawRequest(
          port,
          `POST /judgments HTTP/1.1\r\nHost: evil.example:${port}\r\nOrigin: http://evil.example:${port}\r\n` +
            `Content-Type: application/json\r\nAuthorization: Bearer ${token}`,
          BODY,
        ),
        421,
      ],
      [
        "a foreign Host on a GET of the report",
        rawRequest(port, `GET /summary HTTP/1.1\r\nHost: evil.example:${port}`, ""),
        421,
      ],
    ];
    for (const [what, request, status] of cases) {
      const response = await request;
      assert.equal(response.status, status, what);
      if (response instanceof Response) {
        const { error } = await response.json();
        assert.equal(typeof error, "string", what);
      }
    }
    // Another reviewer's item: the plan gives every item to one of the two.
    const summary = await (await fetch(new URL("/summary", server.url))).json();
    assert.equal(summary.study.reviewers.length, 2);
    const [plan] = [JSON.parse(await Deno.readTextFile(join(dir, "review-plan.json")))];
    const others = plan.assignments.find((a: { reviewer: string }) => a.reviewer === "r2");
    const notMine = await postJudgment(server, {
      reviewer: 0,
      body: JSON.stringify({ item: others.item, judgment: "acceptable" }),
    });
    assert.equal(notMine.status, 403);
    assert.match((await notMine.json()).error, /is not given to r1/);
    assert.equal(await written(dir), null, "nothing was written");
    // The tokens are in no file but their own.
    for (const file of ["report.json", "index.html", "review-plan.json"]) {
      assert.ok(!(await Deno.readTextFile(join(dir, file))).includes(token), file);
    }
  } finally {
    await server.shutdown();
  }
});

Deno.test("--host: an unspecified address is refused; the Host must be the bound address", async () => {
  const { dir } = await sampleReportFolder();
  await assert.rejects(() => startReviewServer({ dir, host: "0.0.0.0", port: 0 }), InputError);
  const server = await startReviewServer({ dir, host: "127.0.0.1", port: 0 });
  const port = Number(new URL(server.url).port);
  try {
    for (
      const [host, status] of [[`127.0.0.1:${port}`, 200], [`localhost:${port}`, 200], [`127.0.0.1:${port + 1}`, 421], [
        "127.0.0.1",
        421,
      ]] as const
    ) {
      const { status: got } = await rawRequest(port, `GET /summary HTTP/1.1\r\nHost: ${host}`, "");
      assert.equal(got, status, host);
    }
  } finally {
    await server.shutdown();
  }
});

Deno.test("in Chromium, a page on another origin cannot write a judgment: fetch (text/plain, JSON) and a form post fail", async () => {
  const { dir } = await sampleReportFolder();
  const server = await startReviewServer({ dir, port: 0 });
  const token = tokenOf(server, 0);
  const target = new URL("/judgments", server.url).href;
  // The attacker's page knows even the token: the origin checks alone must stop it.
  const evil = `<!doctype html><body><form id="f" method="POST" action="${target}" enctype="text/plain">
<input name='{"item":"mistake:8","judgment":"acceptable","x":"' value='"}'></form>
<script>
window.results = Promise.all([
  fetch(${JSON.stringify(target)}, { method: "POST", mode: "no-cors", headers: { "content-type": "text/plain" },
    body: ${JSON.stringify(BODY)} }).then((r) => "no-cors " + r.type, (e) => "error " + e.message),
  fetch(${JSON.stringify(target)}, { method: "POST", headers: { "content-type": "application/json",
    authorization: "Bearer ${token}" }, body: ${
    JSON.stringify(BODY)
  } }).then((r) => "cors " + r.status, (e) => "blocked"),
]);
</script>`;
  const attacker = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => new Response(evil, { headers: { "content-type": "text/html" } }),
  );
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    const statuses: number[] = [];
    page.on("response", (r) => {
      if (r.url() === target) statuses.push(r.status());
    });
    await page.goto(`http://127.0.0.1:${attacker.addr.port}/`);
    const results = await page.evaluate("window.results");
    // The no-cors fetch is sent and refused (an opaque answer); the JSON one needs a preflight, which is refused.
    assert.deepEqual(results, ["no-cors opaque", "blocked"]);
    const [navigation] = await Promise.all([
      page.waitForNavigation(),
      page.evaluate('document.getElementById("f").submit()'),
    ]);
    assert.equal(navigation?.status(), 403);
    assert.ok(statuses.length >= 2 && statuses.every((s) => s >= 400), `answers: ${statuses}`);
    assert.equal(await written(dir), null, "nothing was written");
  } finally {
    await browser.close();
    await attacker.shutdown();
    await server.shutdown();
  }
});

Deno.test("fuzzed bodies with a good token and origin are 4xx (or a judgment), the server stays up, the log stays valid", async () => {
  const { dir } = await sampleReportFolder();
  const server = await startReviewServer({ dir, port: 0 });
  const field = fc.oneof(
    fc.constantFrom("item", "judgment", "reviewer", "token", "__proto__", "constructor"),
    fc.string({ maxLength: 8 }),
  );
  const value = fc.oneof(
    fc.constantFrom("mistake:8", "adversarial:1", "acceptable", "label is wrong", "mistake:-1", "mistake:1e3"),
    fc.jsonValue({ maxDepth: 2 }),
  );
  const body = fc.oneof(
    fc.string({ maxLength: 200 }),
    fc.dictionary(field, value, { maxKeys: 4 }).map((o) => JSON.stringify(o)),
    fc.uint8Array({ maxLength: 64 }).map((b) => String.fromCharCode(...b)),
  );
  try {
    await fc.assert(
      fc.asyncProperty(body, async (text) => {
        const response = await postJudgment(server, { body: text });
        const answer = await response.text();
        if (response.status === 200) {
          const sent = JSON.parse(text);
          assert.deepEqual(Object.keys(sent).sort(), ["item", "judgment"]);
        } else {
          assert.ok(response.status >= 400 && response.status < 500, `${response.status} ${answer} for ${text}`);
          assert.equal(typeof JSON.parse(answer).error, "string");
        }
      }),
      { numRuns: 150 },
    );
    assert.equal((await fetch(new URL("/summary", server.url))).status, 200);
    const log = await written(dir);
    for (const line of (log ?? "").split("\n").filter(Boolean)) JudgmentRecordSchema.parse(JSON.parse(line));
  } finally {
    await server.shutdown();
  }
});
