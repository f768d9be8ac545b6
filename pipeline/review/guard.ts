/**
 * What the review server lets in. Every request must name the server as its Host (the bound
 * address and port, or localhost on a loopback address): a page whose own name was made to point at
 * this machine (DNS rebinding) sends its own name, and is refused. A state-changing request must
 * also come from the server's own origin (the Origin header, else Sec-Fetch-Site "same-origin"),
 * carry `Content-Type: application/json` (which a form cannot send and a cross-origin fetch cannot
 * without a preflight this server never answers), a reviewer's token as `Authorization: Bearer`,
 * and a body of at most BODY_LIMIT bytes.
 *
 * @example
 * ```ts
 * const guard = requestGuard("127.0.0.1", 8000);
 * const refused = guard.host(new Request("http://127.0.0.1:8000/", { headers: { host: "evil.example" } }));
 * refused?.status; // 421
 * ```
 */

/** The largest request body read, in bytes: a judgment is under 100. */
export const BODY_LIMIT = 4096;

/** A refusal: the status and the one-line reason the server answers with (as JSON `{error}`). */
export interface Refusal {
  status: number;
  error: string;
}

/** How a request is checked against the server's own address. */
export interface RequestGuard {
  /** The server's origin, e.g. http://127.0.0.1:8000. */
  origin: string;
  /** A refusal when the Host header does not name this server; null when it does. */
  host(request: Request): Refusal | null;
  /** A refusal when a state-changing request is not same-origin JSON; null when it is. */
  sameOriginJson(request: Request): Refusal | null;
}

const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost"]);

/** `host:port` as a Host header writes it (an IPv6 address in brackets). */
function authority(host: string, port: number): string {
  return `${host.includes(":") ? `[${host}]` : host}:${port}`;
}

/**
 * The checks of a server bound to `host`:`port`.
 *
 * @example
 * ```ts
 * const guard = requestGuard("192.168.1.20", 8000);
 * guard.origin; // "http://192.168.1.20:8000"
 * ```
 */
export function requestGuard(host: string, port: number): RequestGuard {
  const own = authority(host, port);
  const allowed = new Set([own, ...(LOOPBACK.has(host) ? [authority("localhost", port)] : [])]);
  const origin = `http://${own}`;
  const origins = new Set([...allowed].map((a) => `http://${a}`));
  return {
    origin,
    host(request) {
      const given = request.headers.get("host");
      if (given !== null && allowed.has(given.toLowerCase())) return null;
      return { status: 421, error: `this server answers to ${own} only` };
    },
    sameOriginJson(request) {
      const from = request.headers.get("origin");
      const site = request.headers.get("sec-fetch-site");
      if (from !== null ? !origins.has(from.toLowerCase()) : site !== "same-origin") {
        return { status: 403, error: `requests must come from the review page at ${origin}` };
      }
      const type = (request.headers.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
      if (type !== "application/json") return { status: 415, error: "Content-Type must be application/json" };
      return null;
    },
  };
}

/**
 * The bearer token of `request`'s Authorization header, or null.
 *
 * @example
 * ```ts
 * bearerToken(new Request("http://x/", { headers: { authorization: "Bearer abc" } })); // "abc"
 * ```
 */
export function bearerToken(request: Request): string | null {
  const match = /^Bearer ([^\s]+)$/.exec(request.headers.get("authorization") ?? "");
  return match ? match[1] : null;
}

/**
 * The body as text, or a 413 refusal once it passes `limit` bytes (its declared length, or what
 * arrived: a chunked body declares none), or a 400 when it is not UTF-8.
 *
 * @example
 * ```ts
 * const body = await limitedText(new Request("http://x/", { method: "POST", body: "{}" }));
 * ```
 */
export async function limitedText(request: Request, limit = BODY_LIMIT): Promise<string | Refusal> {
  const tooLarge = { status: 413, error: `the body must be at most ${limit} bytes` };
  if (Number(request.headers.get("content-length") ?? 0) > limit) return tooLarge;
  if (request.body === null) return "";
  const parts: Uint8Array[] = [];
  let size = 0;
  for await (const part of request.body) {
    size += part.length;
    if (size > limit) return tooLarge;
    parts.push(part);
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const part of parts) {
    bytes.set(part, at);
    at += part.length;
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return { status: 400, error: "the body must be UTF-8" };
  }
}
