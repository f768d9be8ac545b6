/**
 * Posting to a running review server as the review page does (same origin, JSON, a reviewer's
 * token), or with any of those changed, as a forger would; and the browser the review's tests drive.
 */
import { type Browser, chromium } from "playwright-core";
import type { ReviewServer } from "../pipeline/review/mod.ts";

/** What a POST to /judgments sends; each field defaults to what the review page sends. */
export interface PostOptions {
  /** Reviewer position in server.reviewers; or a token given as is. */
  reviewer?: number;
  token?: string | null;
  origin?: string | null;
  contentType?: string | null;
  body: string;
}

/** The token in a reviewer's URL. */
export function tokenOf(server: ReviewServer, reviewer: number): string {
  return new URL(server.reviewers[reviewer].url).searchParams.get("token")!;
}

/** POSTs `options.body` to /judgments. */
export function postJudgment(server: ReviewServer, options: PostOptions): Promise<Response> {
  const headers = new Headers();
  const origin = options.origin === undefined ? new URL(server.url).origin : options.origin;
  const token = options.token === undefined ? tokenOf(server, options.reviewer ?? 0) : options.token;
  const type = options.contentType === undefined ? "application/json" : options.contentType;
  if (origin !== null) headers.set("origin", origin);
  if (token !== null) headers.set("authorization", `Bearer ${token}`);
  if (type !== null) headers.set("content-type", type);
  return fetch(new URL("/judgments", server.url), { method: "POST", headers, body: options.body });
}

/** POSTs one judgment as reviewer `reviewer` would from their page. */
export function judge(server: ReviewServer, reviewer: number, item: string, judgment: string): Promise<Response> {
  return postJudgment(server, { reviewer, body: JSON.stringify({ item, judgment }) });
}

/** Headless Chromium, as the review's browser tests run it. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
}
