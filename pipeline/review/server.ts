/**
 * The review server: the review page of each reviewer, the report, the report's images, and the
 * judgments reviewers POST. It binds to 127.0.0.1 unless told another address, answers only
 * requests that name it as their Host, and records a judgment only from a same-origin JSON request
 * with a reviewer's token (guard.ts) on an item the plan gives that reviewer. Each judgment is
 * appended to judgments.jsonl, then the summary is recomputed and written into report.json (as
 * `review`) and index.html; writes happen one at a time, and the folder is locked (io/out_folder.ts)
 * while the server runs, so no audit writes into it meanwhile.
 *
 * Routes: GET `/?token=T` reviewer T's page; GET `/report` the report's HTML; GET `/assets/NAME.png`
 * or `.jpg` an image (a regular file inside the folder, never through a link); POST `/judgments`
 * `{item, judgment}` with `Authorization: Bearer T` → the new summary; GET `/summary` the current
 * summary. A refusal or failure is a JSON `{error}` (a failure also one line on stderr).
 *
 * @example
 * ```ts
 * const server = await startReviewServer({ dir: "audit-report", port: 8000 });
 * for (const r of server.reviewers) console.log(`${r.name}: ${r.url}`);
 * await server.finished;
 * ```
 */
import { z } from "zod";
import { regularFileInside } from "../io/contained_path.ts";
import { InputError } from "../io/input_error.ts";
import { readReportAsset, renderReportHtml } from "../report/html.ts";
import { ASSET_MIME, assetFormat, AssetPathSchema } from "../schema/asset_path.ts";
import { JUDGMENTS } from "../schema/review.ts";
import { bearerToken, limitedText, type Refusal, type RequestGuard, requestGuard } from "./guard.ts";
import { answerKey, appendJudgment, ItemIdSchema, type MalformedLine } from "./judgments.ts";
import { renderReviewPage } from "./page.ts";
import { type Reviewer, reviewerOfToken } from "./reviewers.ts";
import {
  claimStudyFolder,
  openStudy,
  rereadJudgments,
  type Study,
  type StudyOptions,
  writeReviewedReport,
} from "./study.ts";
import { reviewSummary } from "./summary.ts";

export interface ReviewServerOptions extends Partial<StudyOptions> {
  /** The report folder (report.json, assets/). */
  dir: string;
  /** The address to bind (default 127.0.0.1); it must be the one reviewers' browsers use. */
  host?: string;
  /** 0 picks any free port. */
  port: number;
}

export interface ReviewServer {
  /** The server's root, e.g. http://127.0.0.1:8000/ (no reviewer's page without a token). */
  url: string;
  /** Each reviewer's own page: their name, id and URL (with their token). */
  reviewers: { id: string; name: string; url: string }[];
  /** Lines of judgments.jsonl skipped at start as malformed. */
  malformed: MalformedLine[];
  /** A line naming the stale lock on the folder that was taken over, null when there was none. */
  tookOver: string | null;
  /** Resolves when the server has stopped and released the folder. */
  finished: Promise<void>;
  /** Stops taking requests, lets those under way (and their writes) finish. */
  shutdown(): Promise<void>;
}

/** What a POST to /judgments carries; the rest of the line comes from the plan, the token and the clock. */
const JudgmentBodySchema = z.strictObject({ item: ItemIdSchema, judgment: z.enum(JUDGMENTS) });

/** Headers on every answer: nothing cached, nothing sniffed, never framed, no token in a Referer. */
const HEADERS = {
  "cache-control": "no-store",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
};

function json(value: unknown, status = 200): Response {
  return Response.json(value, { status, headers: HEADERS });
}

function refused(refusal: Refusal): Response {
  return json({ error: refusal.error }, refusal.status);
}

function html(text: string, status = 200): Response {
  return new Response(text, { status, headers: { ...HEADERS, "content-type": "text/html; charset=utf-8" } });
}

const notFound = () => new Response("not found\n", { status: 404, headers: HEADERS });

/** The reviewer a request's bearer token names, or a 401. */
function reviewerOf(study: Study, token: string | null): Reviewer | Refusal {
  const reviewer = token === null ? null : reviewerOfToken(study.reviewers, token);
  return reviewer ?? { status: 401, error: "a reviewer's token is needed: open the URL the review printed for you" };
}

function isRefusal(value: unknown): value is Refusal {
  return typeof value === "object" && value !== null && "status" in value && "error" in value;
}

/** The plan's assignment of `item` to `reviewer`, or undefined. */
function assignmentOf(study: Study, item: string, reviewer: string) {
  return study.plan.assignments.find((a) => a.item === item && a.reviewer === reviewer);
}

/** Checks a POSTed judgment (guard, token, size, shape, assignment) and records it. */
async function postJudgment(
  study: Study,
  guard: RequestGuard,
  request: Request,
  serialized: Serialized,
): Promise<Response> {
  const notSameOrigin = guard.sameOriginJson(request);
  if (notSameOrigin) return refused(notSameOrigin);
  const reviewer = reviewerOf(study, bearerToken(request));
  if (isRefusal(reviewer)) return refused(reviewer);
  const text = await limitedText(request);
  if (typeof text !== "string") return refused(text);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return json({ error: "body must be JSON: {item, judgment}" }, 400);
  }
  const parsed = JudgmentBodySchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return json({ error: `${issue.path.join(".") || "body"}: ${issue.message}` }, 400);
  }
  const item = study.items.get(parsed.data.item);
  if (!item) return json({ error: `unknown item ${parsed.data.item}` }, 400);
  const assignment = assignmentOf(study, item.id, reviewer.id);
  if (!assignment) return json({ error: `${item.id} is not given to ${reviewer.id}` }, 403);
  if (!assignment.labelShown && parsed.data.judgment === "label is wrong") {
    return json({ error: "the label was not shown: it cannot be judged wrong" }, 400);
  }
  const summary = await serialized(async () => {
    await appendJudgment(study.dir, {
      item: item.id,
      kind: item.kind,
      index: item.index,
      reviewer: reviewer.id,
      judgment: parsed.data.judgment,
      explanationShown: assignment.explanationShown,
      labelShown: assignment.labelShown,
      at: new Date().toISOString(),
    });
    await rereadJudgments(study);
    return await writeReviewedReport(study);
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

/** A reviewer's page: their items, as the plan shows them to them, with their latest answers. */
function reviewerPage(study: Study, url: URL): Response {
  const reviewer = reviewerOf(study, url.searchParams.get("token"));
  if (isRefusal(reviewer)) return html(`<!doctype html><title>Review</title><p>${reviewer.error}.</p>\n`, 401);
  const assignments = study.plan.assignments.filter((a) => a.reviewer === reviewer.id);
  const answers = new Map(
    assignments.flatMap((a) => {
      const j = study.log.judgments.get(answerKey(a.item, reviewer.id));
      return j ? [[a.item, j] as const] : [];
    }),
  );
  const items = assignments.map((a) => study.items.get(a.item)!);
  return html(renderReviewPage(study.report, { reviewer, items, assignments, judgments: answers }));
}

function routes(study: Study, guard: RequestGuard): (request: Request) => Promise<Response> {
  const serialized = serializer();
  return async (request) => {
    const wrongHost = guard.host(request);
    if (wrongHost) return refused(wrongHost);
    const url = new URL(request.url);
    const { pathname } = url;
    if (request.method === "POST" && pathname === "/judgments") {
      return await postJudgment(study, guard, request, serialized);
    }
    if (request.method !== "GET") return new Response("method not allowed\n", { status: 405, headers: HEADERS });
    if (pathname === "/") return reviewerPage(study, url);
    if (pathname === "/report") {
      return html(await renderReportHtml(study.report, (path) => readReportAsset(study.dir, path)));
    }
    if (pathname === "/summary") return json(reviewSummary(study.report, study.plan, study.log));
    const asset = AssetPathSchema.safeParse(pathname.slice(1));
    // Only the folder's own regular files: a link under assets/ could lead anywhere.
    const real = asset.success ? await regularFileInside(study.dir, asset.data) : null;
    if (!asset.success || real === null) return notFound();
    return new Response(await Deno.readFile(real), {
      headers: { ...HEADERS, "content-type": ASSET_MIME[assetFormat(asset.data)] },
    });
  };
}

/**
 * The routes, with every failure (judgments.jsonl gone unwritable, a disk full) answered as a JSON
 * `{error}` the page shows, and logged as one line; the server keeps serving.
 */
function handler(study: Study, guard: RequestGuard): (request: Request) => Promise<Response> {
  const route = routes(study, guard);
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

/** Addresses that are no one address: the Host check needs the one reviewers use. */
const UNSPECIFIED = new Set(["0.0.0.0", "::", "[::]"]);

/**
 * Opens the report folder's study (report.json, reviewers, plan, judgments.jsonl; the reviewers and
 * plan made at the first start), writes the report again with the summary of the judgments found,
 * and serves the review on `host` (default 127.0.0.1):`port`. A missing or invalid report, one
 * without explanations, a malformed plan, or an unspecified address (0.0.0.0) is an InputError.
 *
 * @example
 * ```ts
 * const server = await startReviewServer({ dir: "audit-report", port: 0, reviewers: ["ann", "bo", "cy"] });
 * const summary = await (await fetch(new URL("/summary", server.url))).json();
 * await server.shutdown();
 * ```
 */
export async function startReviewServer(options: ReviewServerOptions): Promise<ReviewServer> {
  const host = options.host ?? "127.0.0.1";
  if (UNSPECIFIED.has(host)) {
    throw new InputError(`--host ${host}: name the one address reviewers will use (the server answers to it only)`);
  }
  const folder = await claimStudyFolder(options.dir, "review");
  let server: Deno.HttpServer<Deno.NetAddr>;
  let study: Study;
  let guard: RequestGuard;
  try {
    study = await openStudy(options.dir, {
      reviewers: options.reviewers ?? null,
      perItem: options.perItem ?? 3,
      label: options.label ?? "shown",
    });
    await writeReviewedReport(study);
    // The guard needs the bound port (0 picks one); no request is handled before this code
    // finishes (handlers run on later turns of the event loop), so `route` is set by then.
    let route: ((request: Request) => Promise<Response>) | null = null;
    server = Deno.serve({ hostname: host, port: options.port, onListen: () => {} }, (request) => route!(request));
    guard = requestGuard(host, server.addr.port);
    route = handler(study, guard);
  } catch (e) {
    folder.release();
    if (e instanceof Deno.errors.AddrInUse) throw new InputError(`port ${options.port} is in use: pass another --port`);
    if (e instanceof Deno.errors.AddrNotAvailable) {
      throw new InputError(`--host ${host}: not an address of this machine`);
    }
    throw e;
  }
  const root = `${guard.origin}/`;
  return {
    url: root,
    reviewers: study.reviewers.map((r) => ({ id: r.id, name: r.name, url: `${root}?token=${r.token}` })),
    malformed: study.log.malformed,
    tookOver: folder.tookOver,
    finished: server.finished.finally(() => folder.release()),
    shutdown: async () => {
      await server.shutdown();
      folder.release();
    },
  };
}
