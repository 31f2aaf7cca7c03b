// Who may use the console and how state-changing requests are protected:
//
// - Without a token, only loopback clients are served, and only under a loopback `Host` header:
//   a web page that rebinds its own DNS name to 127.0.0.1 (DNS rebinding) sends its own name as
//   `Host` and is refused, so it can neither read nor act.
// - With a token, every request carries it: `Authorization: Bearer <token>` (scripts), or the
//   session cookie the login form sets (browsers). The cookie holds an HMAC of the token, not the
//   token, and is HttpOnly and SameSite=Strict. Comparisons are constant-time over SHA-256
//   digests, so neither the length nor a prefix of the token leaks through timing.
// - Every state-changing request is a POST, and a POST from another origin is refused: a browser
//   says where a request comes from (`Sec-Fetch-Site`, `Origin`); a request that says neither is
//   not from a browser page (curl, a script), which cannot be forged by a visited site.

const ENCODER = new TextEncoder();

/** The name of the session cookie. */
export const SESSION_COOKIE = "cano_admin_session";

/**
 * What the server says about the client (`Deno.ServeHandlerInfo` fits): a console without a
 * token refuses a client whose address is not loopback.
 *
 * @example Pass Deno.serve's info on
 * ```ts
 * import { adminHandler, type ClientInfo } from "@cano/cano/admin";
 * import { MemoryCheckpointStore } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * await using handler = adminHandler({ store: new MemoryCheckpointStore() });
 * const remote: ClientInfo = { remoteAddr: { hostname: "10.0.0.7", transport: "tcp" } };
 * const response = await handler(new Request("http://127.0.0.1/api/runs"), remote);
 * assert.equal(response.status, 403);
 * ```
 */
export interface ClientInfo {
  /** The client's address (`hostname` is an IP address for TCP). */
  readonly remoteAddr?: { readonly hostname?: string; readonly transport?: string } | undefined;
}

/**
 * Compares two strings in time that depends on neither their content nor their lengths: both
 * are hashed, and the digests are compared with no early exit.
 *
 * @param given The string received.
 * @param expected The secret.
 * @returns Whether they are equal.
 */
export async function constantTimeEqual(given: string, expected: string): Promise<boolean> {
  const [a, b] = await Promise.all([digest(given), digest(expected)]);
  let difference = 0;
  for (let index = 0; index < a.length; index++) difference |= a[index]! ^ b[index]!;
  return difference === 0;
}

async function digest(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", ENCODER.encode(text)));
}

/**
 * The session cookie's value for a token: an HMAC of a fixed label under the token, so the
 * cookie proves the token was given without being the token.
 *
 * @param token The configured token.
 * @returns The value, as hex.
 */
export async function sessionValue(token: string): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    ENCODER.encode(token),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const signature = await crypto.subtle.sign("HMAC", key, ENCODER.encode("cano-admin-session/1"));
  return [...new Uint8Array(signature)].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

/**
 * Whether a request carries the token: as a bearer token or as the session cookie.
 *
 * @param request The request.
 * @param token The configured token.
 * @param session Its session value ({@link sessionValue}).
 * @returns Whether it is authorised.
 */
export async function carriesToken(
  request: Request,
  token: string,
  session: string,
): Promise<boolean> {
  const authorization = request.headers.get("authorization");
  if (authorization !== null) {
    const match = /^Bearer[ ]+(\S+)\s*$/i.exec(authorization);
    return match !== null && await constantTimeEqual(match[1]!, token);
  }
  const cookie = cookieValue(request.headers.get("cookie"), SESSION_COOKIE);
  return cookie !== undefined && await constantTimeEqual(cookie, session);
}

/**
 * One cookie's value from a `Cookie` header.
 *
 * @param header The header, `null` when absent.
 * @param name The cookie's name.
 * @returns Its value, `undefined` when absent.
 */
export function cookieValue(header: string | null, name: string): string | undefined {
  if (header === null) return undefined;
  for (const part of header.split(";")) {
    const index = part.indexOf("=");
    if (index === -1) continue;
    if (part.slice(0, index).trim() === name) return part.slice(index + 1).trim();
  }
  return undefined;
}

/**
 * The `Set-Cookie` header of a session (or of its end, with `value` empty).
 *
 * @param value The session value, `""` to clear it.
 * @param path The console's base path (`/` when mounted at the root).
 * @param secure Whether the request came over HTTPS (then the cookie is `Secure`).
 * @returns The header value.
 */
export function sessionCookie(value: string, path: string, secure: boolean): string {
  const age = value === "" ? "; Max-Age=0" : "";
  return `${SESSION_COOKIE}=${value}; Path=${path}; HttpOnly; SameSite=Strict${
    secure ? "; Secure" : ""
  }${age}`;
}

/**
 * Why a client may not use a console that has no token, `undefined` when it may: it must be on
 * this machine (when the server says where it is), and the `Host` it asked for must name this
 * machine (against DNS rebinding).
 *
 * @param request The request.
 * @param info The server's connection info, when the server passes it (`Deno.serve` does).
 * @param isLoopback Decides loopback host names and addresses.
 * @returns The refusal's message, or `undefined`.
 */
export function loopbackRefusal(
  request: Request,
  info: ClientInfo | undefined,
  isLoopback: (host: string) => boolean,
): string | undefined {
  const remote = info?.remoteAddr;
  if (remote !== undefined && remote.transport !== "unix" && typeof remote.hostname === "string") {
    if (!isLoopback(remote.hostname)) {
      return "This console has no token, so it serves this machine only: configure a token " +
        "to reach it from elsewhere";
    }
  }
  const host = hostOf(request);
  if (host === undefined || !isLoopback(host)) {
    return "This console has no token, so it answers only requests for a loopback host " +
      "(localhost, 127.0.0.1, [::1]); configure a token to serve it under another name";
  }
  return undefined;
}

/** The host name a request was sent to (its `Host`, else its URL), without the port. */
function hostOf(request: Request): string | undefined {
  const header = request.headers.get("host");
  let host = header ?? "";
  if (host === "") {
    try {
      host = new URL(request.url).host;
    } catch {
      return undefined;
    }
  }
  if (host.startsWith("[")) {
    const end = host.indexOf("]");
    return end === -1 ? undefined : host.slice(0, end + 1);
  }
  const colon = host.lastIndexOf(":");
  return colon === -1 ? host : host.slice(0, colon);
}

/**
 * Why a state-changing request is refused as cross-origin, `undefined` when it is not: a
 * browser's `Sec-Fetch-Site` must be `same-origin` (or `none`: typed by the user), and an
 * `Origin` must be the request's own.
 *
 * @param request The request.
 * @returns The refusal's message, or `undefined`.
 */
export function crossOriginRefusal(request: Request): string | undefined {
  const site = request.headers.get("sec-fetch-site");
  if (site !== null && site !== "same-origin" && site !== "none") {
    return `Cross-origin request refused (Sec-Fetch-Site: ${site.slice(0, 40)})`;
  }
  const origin = request.headers.get("origin");
  if (origin === null) return undefined;
  if (origin !== ownOrigin(request)) {
    return `Cross-origin request refused: Origin ${JSON.stringify(origin.slice(0, 200))} is not ` +
      "this console's";
  }
  return undefined;
}

/** The origin the request was sent to, as a browser on this page would write it. */
function ownOrigin(request: Request): string | undefined {
  try {
    const url = new URL(request.url);
    const host = request.headers.get("host") ?? url.host;
    return `${url.protocol}//${host}`;
  } catch {
    return undefined;
  }
}

/** Headers every answer carries: no framing, no sniffing, no referrer, no inline script. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; " +
    "img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; " +
    "base-uri 'none'",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "cross-origin-resource-policy": "same-origin",
  "cache-control": "no-store",
});
