/**
 * # cano admin console
 *
 * A web console and a CLI over the run store you already have (Deno KV, or the memory store):
 * see unfinished runs by status and workflow, open one to read its timeline (rows, data
 * snapshots, retries, compensations, the error) and its path drawn on the workflow's graph,
 * cancel it, resume it, retry a failed run from its last state or send it an event; drive the
 * scheduler's flows (trigger, reset, cancel) and watch circuit breakers and rate limiters.
 *
 * - {@link adminHandler} returns a fetch handler — `(request, info?) => Promise<Response>` —
 *   to mount in `Deno.serve`, Hono, Fresh or any server that hands over a `Request`: a JSON API
 *   under `/api/` and the page at `/`. The page is plain HTML, CSS and JavaScript served by the
 *   handler itself: no CDN, no build step, works offline.
 * - {@link serveAdmin} serves it on its own port, on 127.0.0.1 by default.
 * - The CLI: `deno run -A jsr:@cano/cano/admin --kv FILE list | show ID | cancel ID | resume ID |
 *   retry ID | send ID EVENT | export ID | serve` (`--json` for one JSON object per line).
 *
 * **Security.** Without a `token` the console serves this machine only: clients on a loopback
 * address, asking for a loopback `Host` (which stops DNS-rebinding pages), and `serveAdmin`
 * refuses a non-loopback address. With a `token`, every request must carry it — `Authorization:
 * Bearer <token>`, or the HttpOnly, SameSite=Strict session cookie the login form sets (it holds
 * an HMAC of the token) — compared in constant time. Every state-changing request is a POST and a
 * POST from another origin is refused (`Sec-Fetch-Site`, `Origin`); API POSTs take
 * `application/json` bodies only. The page is served with a strict Content-Security-Policy (no
 * inline script) and builds its DOM with `textContent`, never `innerHTML`, so hostile ids and
 * data render as text. `hideData` leaves run data out of every answer; `readOnly` refuses every
 * action.
 *
 * **Resume and retry.** Both continue a run from its checkpoint log with `resumeFrom`: the state
 * of the last row runs again with the last data snapshot. *Resume* is for a run nobody holds (its
 * process died, or it is parked and due); *retry* is for a failed run (its log is kept, so it is
 * run again from its last state; a failed rollback retries its compensations). Both need the
 * definition (`workflows`, matched by name and version) to run here; without it the console's
 * *retry*, and the CLI's *resume* and *retry* always, hand the run to recovery — claimed and
 * released at once, so the next sweep of any process running `startRecovery` with its
 * definition picks it up. A cancelled run is not retried (its cancel request would stop
 * it again).
 *
 * **Timeline times.** Checkpoint rows carry no timestamps: the console listens to the events of
 * the workflows it is given and shows when it saw each row written, each failed attempt and each
 * compensation, for runs executed in its process. Runs elsewhere show their record's times.
 *
 * @example Mount the console in your own server
 * ```ts
 * import { adminHandler } from "@cano/cano/admin";
 * import { MemoryCheckpointStore, Workflow } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const store = new MemoryCheckpointStore();
 * const orders = new Workflow<"charge" | "done">({ name: "order" })
 *   .register("charge", () => "done")
 *   .addExitState("done")
 *   .withCheckpointStore(store);
 * await using handler = adminHandler({ store, workflows: [orders] });
 *
 * // In a server: Deno.serve({ hostname: "127.0.0.1" }, handler)
 * const response = await handler(new Request("http://127.0.0.1/api/runs"));
 * assert.deepEqual(await response.json(), { runs: [], cursor: null });
 * ```
 *
 * @example The CLI
 * ```sh
 * deno run -A jsr:@cano/cano/admin --kv orders.kv list --status failed
 * deno run -A jsr:@cano/cano/admin --kv orders.kv show order-42 --json
 * deno run -A jsr:@cano/cano/admin --kv orders.kv cancel order-43 --reason "customer asked"
 * ```
 *
 * @module
 */

import { runCli } from "./src/admin/cli.ts";

export { type AdminHandler, adminHandler, type ClientInfo } from "./src/admin/handler.ts";
export { type AdminServer, serveAdmin } from "./src/admin/serve.ts";
export type {
  AdminLimiter,
  AdminOptions,
  AdminWorkflow,
  ServeAdminOptions,
} from "./src/admin/options.ts";
export { KvFileError, type KvFileProblem, openCanoKv } from "./src/admin/kv_file.ts";
export { type CliIo, runCli } from "./src/admin/cli.ts";
// Re-exported so this entrypoint documents the types its API works with (also exported by ".").
export type { CanoError, ErrorCategory } from "./src/errors.ts";

if (import.meta.main) {
  const stop = Promise.withResolvers<void>();
  const onSignal = (): void => stop.resolve();
  Deno.addSignalListener("SIGINT", onSignal);
  const code = await runCli(Deno.args, {
    out: (line) => console.log(line),
    err: (line) => console.error(line),
    env: (name) => Deno.env.get(name),
    stopped: () => stop.promise,
  });
  Deno.removeSignalListener("SIGINT", onSignal);
  Deno.exit(code);
}
