// The console's fetch handler: who may ask (security.ts), which method, then the route. Mount it
// in `Deno.serve`, Hono, Fresh or anything that hands over a `Request`.

import { messageOf } from "../errors.ts";
import { Activity } from "./activity.ts";
import { errorResponse, HttpError, json, readFormBody, text } from "./http.ts";
import { type AdminOptions, checkAdminOptions, isLoopbackHost, quote } from "./options.ts";
import { PAGE_CSS } from "./page_css.ts";
import { loginPage, mainPage } from "./page_html.ts";
import { PAGE_JS } from "./page_js.ts";
import { exportRun, listRuns, listWorkflows, runAction, showRun } from "./routes_runs.ts";
import { flowAction, listFlows, resilience } from "./routes_scheduler.ts";
import { identityOf } from "./run_actions.ts";
import {
  carriesToken,
  type ClientInfo,
  constantTimeEqual,
  crossOriginRefusal,
  loopbackRefusal,
  sessionCookie,
  sessionValue,
} from "./security.ts";
import { hasWaitMethods } from "../recovery/checkpoint.ts";

export type { ClientInfo } from "./security.ts";

/**
 * The console's fetch handler (see {@link adminHandler}): call it with a request (and, from
 * `Deno.serve`, the connection info); `close()` stops listening to the workflows' events and
 * waits for the runs it resumed.
 *
 * @example Serve it with Deno.serve, close it with the server
 * ```ts
 * import { type AdminHandler, adminHandler } from "@cano/cano/admin";
 * import { MemoryCheckpointStore } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const handler: AdminHandler = adminHandler({ store: new MemoryCheckpointStore() });
 * const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handler);
 * const page = await fetch(`http://127.0.0.1:${server.addr.port}/`);
 * assert.match(await page.text(), /<title>cano admin<\/title>/);
 * await server.shutdown();
 * await handler.close();
 * ```
 */
export interface AdminHandler {
  /**
   * Answers one request.
   *
   * @param request The request.
   * @param info The connection info (`Deno.serve` passes it): lets a console without a token
   * refuse clients that are not on this machine.
   * @returns The response.
   */
  (request: Request, info?: ClientInfo): Promise<Response>;
  /**
   * Stops the console: later requests get a 503, the workflows' listeners are removed, and the
   * runs it resumed or retried here, and flow cancels it started, are waited for.
   *
   * @returns Once they have settled.
   */
  close(): Promise<void>;
  /** Same as `close()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

const FAVICON = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" ' +
  'height="16" rx="3" fill="#2563eb"/><path d="M4 5h8M4 8h5M4 11h8" stroke="#fff" ' +
  'stroke-width="1.6"/></svg>';

/**
 * Creates the admin console's fetch handler: a JSON API under `/api/` and a web page at `/`.
 * See the module documentation for the routes, the security rules and what resume and retry do.
 *
 * @param options The store, the definitions, the scheduler, the token and the display options.
 * @returns The handler.
 * @throws {ConfigurationError} Naming the first bad option.
 *
 * @example Retry a failed run through the API
 * ```ts
 * import { adminHandler } from "@cano/cano/admin";
 * import { MemoryCheckpointStore, TaskConfig, Workflow } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * let down = true;
 * const store = new MemoryCheckpointStore();
 * const orders = new Workflow<"charge" | "done">({ name: "order" })
 *   .register("charge", () => {
 *     if (down) throw new Error("provider down");
 *     return "done";
 *   }, { config: TaskConfig.minimal() })
 *   .addExitState("done")
 *   .withCheckpointStore(store);
 * await orders.orchestrate("charge", { id: "order-1" }).catch(() => {});
 *
 * const handler = adminHandler({ store, workflows: [orders] });
 * const run = await (await handler(new Request("http://127.0.0.1/api/runs/order-1"))).json();
 * assert.equal(run.run.status, "failed");
 * assert.equal(run.actions.retry.allowed, true);
 *
 * down = false;
 * const retry = await handler(new Request("http://127.0.0.1/api/runs/order-1/retry", { method: "POST" }));
 * assert.equal(retry.status, 202);
 * await handler.close(); // waits for the retried run
 * assert.equal(await store.getRun("order-1"), undefined); // completed: nothing left behind
 * ```
 */
export function adminHandler(options: AdminOptions): AdminHandler {
  const config = checkAdminOptions(options, "adminHandler");
  const activity = new Activity(config.workflows);
  const inFlight = new Set<Promise<unknown>>();
  const track = (work: Promise<unknown>): void => {
    const settled = work.then(() => {}, () => {});
    inFlight.add(settled);
    settled.then(() => inFlight.delete(settled));
  };
  const context = { ...config, activity, track };
  const session = config.token === undefined ? undefined : sessionValue(config.token);
  const base = config.basePath;
  const cookiePath = base === "" ? "/" : base;
  let closed = false;

  const route = async (request: Request, url: URL, rest: string): Promise<Response> => {
    const method = request.method === "HEAD" ? "GET" : request.method;
    if (method !== "GET" && method !== "POST") {
      return json({ error: { name: "HttpError", message: "Method not allowed" } }, 405, {
        allow: "GET, HEAD, POST",
      });
    }
    if (method === "POST") {
      const refusal = crossOriginRefusal(request);
      if (refusal !== undefined) throw new HttpError(403, refusal);
    }
    const segments = splitPath(rest);
    const [head, ...tail] = segments;
    if (head !== "api") {
      if (method !== "GET") {
        if (rest === "/logout") {
          return new Response(null, {
            status: 303,
            headers: {
              location: `${base}/login`,
              "set-cookie": sessionCookie("", cookiePath, url.protocol === "https:"),
            },
          });
        }
        throw new HttpError(405, "Only GET is allowed here");
      }
      switch (rest) {
        case "/":
          return text(
            mainPage(config.title, base, config.token !== undefined),
            "text/html; charset=utf-8",
          );
        case "/app.js":
          return text(PAGE_JS, "text/javascript; charset=utf-8");
        case "/app.css":
          return text(PAGE_CSS, "text/css; charset=utf-8");
        case "/favicon.svg":
          return text(FAVICON, "image/svg+xml");
        case "/login":
          return Response.redirect(new URL(`${base}/`, url), 303);
      }
      throw new HttpError(404, `Not found: ${quote(rest)}`);
    }
    const [area, id, action, ...extra] = tail;
    if (extra.length > 0) throw new HttpError(404, "Not found");
    if (method === "GET") {
      if (area === "info" && id === undefined) return info();
      if (area === "runs" && id === undefined) return await listRuns(context, url);
      if (area === "runs" && id !== undefined && action === undefined) {
        return await showRun(context, id);
      }
      if (area === "runs" && id !== undefined && action === "export") {
        return await exportRun(context, id);
      }
      if (area === "workflows" && id === undefined) return listWorkflows(context);
      if (area === "flows" && id === undefined) return listFlows(context);
      if (area === "resilience" && id === undefined) return resilience(context);
      throw new HttpError(404, "Not found");
    }
    if (area === "runs" && id !== undefined && action !== undefined) {
      return await runAction(context, id, action, request);
    }
    if (area === "flows" && id !== undefined && action !== undefined) {
      return await flowAction(context, id, action, request);
    }
    throw new HttpError(404, "Not found");
  };

  const info = (): Response =>
    json({
      title: config.title,
      hideData: config.hideData,
      readOnly: config.readOnly,
      refreshMs: config.refreshMs,
      auth: config.token === undefined ? "loopback" : "token",
      workflows: config.workflows.map(identityOf),
      scheduler: config.scheduler !== undefined,
      resilience: config.breakers.size + config.limiters.size > 0,
      events: hasWaitMethods(config.store),
    });

  /** The login form's POST: the token, compared in constant time, becomes the session cookie. */
  const login = async (request: Request, url: URL): Promise<Response> => {
    const refusal = crossOriginRefusal(request);
    if (refusal !== undefined) throw new HttpError(403, refusal);
    const form = await readFormBody(request);
    const given = form.get("token") ?? "";
    if (!await constantTimeEqual(given, config.token!)) {
      return text(
        loginPage(config.title, base, "That token is not right."),
        "text/html; charset=utf-8",
        401,
      );
    }
    return new Response(null, {
      status: 303,
      headers: {
        location: `${base}/`,
        "set-cookie": sessionCookie(await session!, cookiePath, url.protocol === "https:"),
      },
    });
  };

  const handle = async (request: Request, client?: ClientInfo): Promise<Response> => {
    let api = false;
    try {
      if (closed) throw new HttpError(503, "The admin console was closed");
      const url = new URL(request.url);
      const path = url.pathname;
      if (base !== "" && path !== base && !path.startsWith(`${base}/`)) {
        throw new HttpError(404, "Not found");
      }
      if (path === base) return Response.redirect(new URL(`${base}/`, url), 308);
      const rest = path.slice(base.length);
      api = rest === "/api" || rest.startsWith("/api/");
      if (config.token === undefined) {
        const refusal = loopbackRefusal(request, client, isLoopbackHost);
        if (refusal !== undefined) throw new HttpError(403, refusal);
      } else if (!await carriesToken(request, config.token, await session!)) {
        if (rest === "/login" && request.method === "POST") return await login(request, url);
        if (api) {
          return json(
            {
              error: {
                name: "HttpError",
                message: "Authorization required: send the token as a bearer token",
              },
            },
            401,
            {
              "www-authenticate": 'Bearer realm="cano admin"',
            },
          );
        }
        if (rest === "/app.css" || rest === "/favicon.svg") return await route(request, url, rest);
        return text(loginPage(config.title, base, undefined), "text/html; charset=utf-8", 401);
      }
      const response = await route(request, url, rest);
      return request.method === "HEAD"
        ? new Response(null, { status: response.status, headers: response.headers })
        : response;
    } catch (error) {
      if (api || error instanceof HttpError) return errorResponse(error);
      return text(`Error: ${messageOf(error)}`, "text/plain; charset=utf-8", 500);
    }
  };

  const close = async (): Promise<void> => {
    closed = true;
    activity.close();
    while (inFlight.size > 0) await Promise.all([...inFlight]);
  };
  return Object.assign(handle, { close, [Symbol.asyncDispose]: close });
}

/** A path's segments, each percent-decoded (ids may hold `/`, sent as `%2F`). */
function splitPath(rest: string): string[] {
  const parts = rest.split("/").slice(1);
  if (parts.at(-1) === "") parts.pop();
  try {
    return parts.map((part) => decodeURIComponent(part));
  } catch {
    throw new HttpError(400, "Malformed percent-encoding in the path");
  }
}
