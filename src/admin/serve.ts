// `serveAdmin`: the console's handler on its own `Deno.serve` server, on 127.0.0.1 unless told
// otherwise (and then only with a token).

import { CanoError, ConfigurationError, messageOf } from "../errors.ts";
import { safeInstanceOf } from "../describe.ts";
import { type AdminHandler, adminHandler } from "./handler.ts";
import { checkAdminOptions, checkServeOptions, type ServeAdminOptions } from "./options.ts";

/**
 * A running console server (see {@link serveAdmin}).
 *
 * @example Read its URL, stop it with the scope
 * ```ts
 * import { type AdminServer, serveAdmin } from "@cano/cano/admin";
 * import { MemoryCheckpointStore } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * {
 *   await using server: AdminServer = serveAdmin({ store: new MemoryCheckpointStore() });
 *   assert.equal(server.url, `http://127.0.0.1:${server.addr.port}/`);
 * } // shut down here
 * ```
 */
export interface AdminServer extends AsyncDisposable {
  /** The address it listens on. */
  readonly addr: Deno.NetAddr;
  /** Its URL, e.g. `http://127.0.0.1:8787/` (with the base path). */
  readonly url: string;
  /** The handler it serves (to mount the same console elsewhere too). */
  readonly handler: AdminHandler;
  /** Settles once the server has shut down. */
  readonly finished: Promise<void>;
  /**
   * Stops accepting connections, lets the requests in flight finish, then closes the handler
   * (waits for the runs it resumed).
   *
   * @returns Once everything has stopped.
   */
  shutdown(): Promise<void>;
}

/**
 * Serves the admin console on `hostname:port` (127.0.0.1 and a free port by default).
 *
 * @param options The console's options (see `adminHandler`) and where to listen.
 * @returns The running server.
 * @throws {ConfigurationError} On a bad option, or a non-loopback `hostname` without a `token`.
 *
 * @example Serve beyond this machine with a token
 * ```ts
 * import { serveAdmin } from "@cano/cano/admin";
 * import { MemoryCheckpointStore } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const store = new MemoryCheckpointStore();
 * assert.throws(() => serveAdmin({ store, hostname: "0.0.0.0" }), /not a loopback address/);
 *
 * const token = "a-long-random-secret-0123456789";
 * await using server = serveAdmin({ store, hostname: "0.0.0.0", token });
 * const url = `http://127.0.0.1:${server.addr.port}/api/runs`;
 * const refused = await fetch(url);
 * assert.equal(refused.status, 401);
 * await refused.body?.cancel();
 * const runs = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
 * assert.deepEqual(await runs.json(), { runs: [], cursor: null });
 * ```
 */
export function serveAdmin(options: ServeAdminOptions): AdminServer {
  const checked = checkAdminOptions(options, "serveAdmin");
  const { hostname, port, signal } = checkServeOptions(options, checked.token);
  const handler = adminHandler(options);
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({ hostname, port, onListen: () => {} }, handler);
  } catch (error) {
    void handler.close();
    if (safeInstanceOf(error, CanoError)) throw error;
    throw new ConfigurationError(
      `serveAdmin could not listen on ${JSON.stringify(hostname)} port ${port}: ${
        messageOf(error)
      }`,
      { cause: error },
    );
  }
  let stopping: Promise<void> | undefined;
  const shutdown = (): Promise<void> =>
    stopping ??= (async () => {
      signal?.removeEventListener("abort", onAbort);
      await server.shutdown();
      await handler.close();
    })();
  const onAbort = (): void => void shutdown().catch(() => {});
  if (signal?.aborted) onAbort();
  else signal?.addEventListener("abort", onAbort, { once: true });
  const addr = server.addr;
  const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  const base = checked.basePath;
  return {
    addr,
    url: `http://${host}:${addr.port}${base}/`,
    handler,
    finished: server.finished.then(() => stopping ?? Promise.resolve()),
    shutdown,
    [Symbol.asyncDispose]: shutdown,
  };
}
