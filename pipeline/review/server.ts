/**
 * The review server on 127.0.0.1: the review page, the report, the report's images, and the
 * judgments people POST. Each judgment is appended to judgments.jsonl, then the summary is
 * recomputed and written into report.json (as `review`) and index.html; writes happen one at a time,
 * and the folder is locked (io/out_folder.ts) while the server runs, so no audit writes into it meanwhile.
 *
 * Routes: GET `/` the review page; GET `/report` the report's HTML; GET `/assets/NAME.png` or `.jpg` an image
 * (a regular file inside the folder, never through a link); POST `/judgments` `{item, judgment}` → the new
 * summary; GET `/summary` the current summary. A failure is a 500 with a JSON `{error}` and one line on stderr.
 *
 * @example
 * ```ts
 * const server = await startReviewServer({ dir: "audit-report", port: 8000 });
 * console.log(`review at ${server.url}`);
 * await server.finished;
 * ```
 */
import { join } from "node:path";
import { z } from "zod";
import type { AuditReport } from "../schema/report.ts";
import { regularFileInside } from "../io/contained_path.ts";
import { InputError } from "../io/input_error.ts";
import { claimOutFolder } from "../io/out_folder.ts";
import { readReportAsset, renderReportHtml, writeReportHtml } from "../report/html.ts";
import { readReport, REPORT_FILE, writeReport } from "../report/report_file.ts";
import { ASSET_MIME, assetFormat, AssetPathSchema } from "../schema/asset_path.ts";
import { JUDGMENTS, type ReviewSummary } from "../schema/review.ts";
import { appendJudgment, ItemIdSchema, type JudgmentLog, type MalformedLine, readJudgments } from "./judgments.ts";
import { renderReviewPage } from "./page.ts";
import { loadOrCreatePlan, type ReviewItem, reviewItems, type ReviewPlan } from "./plan.ts";
import { reviewSummary } from "./summary.ts";

export interface ReviewServerOptions {
  /** The report folder (report.json, assets/). */
  dir: string;
  /** 0 picks any free port. */
  port: number;
}

export interface ReviewServer {
  /** Where the review page is, e.g. http://127.0.0.1:8000/. */
  url: string;
  /** Lines of judgments.jsonl skipped at start as malformed. */
  malformed: MalformedLine[];
  /** A line naming the stale lock on the folder that was taken over, null when there was none. */
  tookOver: string | null;
  /** Resolves when the server has stopped and released the folder. */
  finished: Promise<void>;
  /** Stops taking requests, lets those under way (and their writes) finish. */
  shutdown(): Promise<void>;
}

/** What a POST to /judgments carries; the rest of the line comes from the plan and the clock. */
const JudgmentBodySchema = z.strictObject({ item: ItemIdSchema, judgment: z.enum(JUDGMENTS) });

/** The review's state: the report as last written, its items and plan, the judgments read. */
interface Review {
  dir: string;
  report: AuditReport;
  items: Map<string, ReviewItem>;
  plan: ReviewPlan;
  log: JudgmentLog;
}

async function openReview(dir: string): Promise<Review> {
  const report = await readReport(dir);
  if (report.explanations === null) {
    throw new InputError(`${join(dir, "report.json")}: nothing to review: the audit ran with --saliency none`);
  }
  const items = reviewItems(report);
  const plan = await loadOrCreatePlan(dir, items);
  const log = await readJudgments(dir, new Set(items.map((item) => item.id)));
  return { dir, report, items: new Map(items.map((item) => [item.id, item])), plan, log };
}

/** Puts the judgments' summary into the report (null before any line) and writes report.json and index.html. */
async function writeReviewedReport(review: Review): Promise<ReviewSummary> {
  const summary = reviewSummary(review.report, review.log);
  review.report = { ...review.report, review: review.log.lines > 0 ? summary : null };
  await writeReport(review.dir, review.report, { force: true });
  await writeReportHtml(review.dir, review.report);
  return summary;
}

function json(value: unknown, status = 200): Response {
  return Response.json(value, { status, headers: { "cache-control": "no-store" } });
}

function html(text: string): Response {
  return new Response(text, { headers: { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" } });
}

const notFound = () => new Response("not found\n", { status: 404 });

/** Validates a POSTed judgment, records it with whether the page showed the explanation. */
async function postJudgment(review: Review, request: Request, serialized: Serialized): Promise<Response> {
  let body: unknown;
  try {
    body = await request.json();
  } catch {
    return json({ error: "body must be JSON: {item, judgment}" }, 400);
  }
  const parsed = JudgmentBodySchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return json({ error: `${issue.path.join(".") || "body"}: ${issue.message}` }, 400);
  }
  const item = review.items.get(parsed.data.item);
  if (!item) return json({ error: `unknown item ${parsed.data.item}` }, 400);
  const summary = await serialized(async () => {
    await appendJudgment(review.dir, {
      item: item.id,
      kind: item.kind,
      index: item.index,
      judgment: parsed.data.judgment,
      explanationShown: review.plan.explanationShown[item.id],
      at: new Date().toISOString(),
    });
    review.log = await readJudgments(review.dir, new Set(review.items.keys()));
    return await writeReviewedReport(review);
  });
  return json(summary);
}

type Serialized = <T>(task: () => Promise<T>) => Promise<T>;

/** Runs tasks one after another, in the order given. */
function serializer(): Serialized {
  let last: Promise<unknown> = Promise.resolve();
  return (task) => {
    const run = last.then(task);
    last = run.catch(() => {});
    return run;
  };
}

function routes(review: Review): (request: Request) => Promise<Response> {
  const serialized = serializer();
  return async (request) => {
    const { pathname } = new URL(request.url);
    if (request.method === "POST" && pathname === "/judgments") return await postJudgment(review, request, serialized);
    if (request.method !== "GET") return new Response("method not allowed\n", { status: 405 });
    if (pathname === "/") {
      return html(renderReviewPage(review.report, [...review.items.values()], review.plan, review.log.judgments));
    }
    if (pathname === "/report") {
      return html(await renderReportHtml(review.report, (path) => readReportAsset(review.dir, path)));
    }
    if (pathname === "/summary") return json(reviewSummary(review.report, review.log));
    const asset = AssetPathSchema.safeParse(pathname.slice(1));
    // Only the folder's own regular files: a link under assets/ could lead anywhere.
    const real = asset.success ? await regularFileInside(review.dir, asset.data) : null;
    if (!asset.success || real === null) return notFound();
    return new Response(await Deno.readFile(real), {
      headers: { "content-type": ASSET_MIME[assetFormat(asset.data)] },
    });
  };
}

/**
 * The routes, with every failure (judgments.jsonl gone unwritable, a disk full) answered as a JSON
 * `{error}` the page shows, and logged as one line; the server keeps serving.
 */
function handler(review: Review): (request: Request) => Promise<Response> {
  const route = routes(review);
  return async (request) => {
    try {
      return await route(request);
    } catch (e) {
      const message = (e instanceof Error ? e.message : String(e)).split("\n")[0];
      console.error(`review: ${request.method} ${new URL(request.url).pathname}: ${message}`);
      return json({ error: message }, 500);
    }
  };
}

/**
 * Opens the report folder's review (report.json, the plan, judgments.jsonl), writes the report
 * again with the summary of the judgments found, and serves the review on 127.0.0.1:`port`.
 * A missing or invalid report, one without explanations, or a malformed plan is an InputError.
 *
 * @example
 * ```ts
 * const server = await startReviewServer({ dir: "audit-report", port: 0 });
 * const summary = await (await fetch(new URL("/summary", server.url))).json();
 * await server.shutdown();
 * ```
 */
export async function startReviewServer(options: ReviewServerOptions): Promise<ReviewServer> {
  // Only locked, not marked: the review writes into a report folder, whoever made it.
  const folder = await claimOutFolder(options.dir, {
    flag: "--report",
    command: "review",
    force: false,
    create: false,
    marker: false,
    tempFolders: [""],
  });
  if (folder === null) throw new InputError(`${join(options.dir, REPORT_FILE)}: no such file or folder`);
  let server: Deno.HttpServer<Deno.NetAddr>;
  let review: Review;
  try {
    review = await openReview(options.dir);
    await writeReviewedReport(review);
    server = Deno.serve({ hostname: "127.0.0.1", port: options.port, onListen: () => {} }, handler(review));
  } catch (e) {
    folder.release();
    if (e instanceof Deno.errors.AddrInUse) throw new InputError(`port ${options.port} is in use: pass another --port`);
    throw e;
  }
  return {
    url: `http://127.0.0.1:${server.addr.port}/`,
    malformed: review.log.malformed,
    tookOver: folder.tookOver,
    finished: server.finished.finally(() => folder.release()),
    shutdown: async () => {
      await server.shutdown();
      folder.release();
    },
  };
}
