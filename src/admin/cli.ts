// The admin CLI: `deno run -A jsr:@cano/cano/admin --kv FILE <command>` on a KV file, for people
// (tables) and scripts (`--json`: one JSON object per line). It has no workflow definitions, so
// it reads, cancels, hands failed runs to recovery and sends events; `serve` starts the console
// on the file.

import { parseArgs } from "node:util";
import { safeInstanceOf } from "../describe.ts";
import { CanoError, messageOf } from "../errors.ts";
import type { RunStatus } from "../recovery/checkpoint.ts";
import type { KvKey } from "../recovery/kv_like.ts";
import { printable, runsTable, runText } from "./cli_format.ts";
import { openCanoKv } from "./kv_file.ts";
import { exportDocument } from "./routes_runs.ts";
import {
  actionsOf,
  cancelRun,
  handToRecovery,
  resumeRefusal,
  sendRunEvent,
} from "./run_actions.ts";
import { serveAdmin } from "./serve.ts";
import { rowViews, runView } from "./views.ts";
import { pathOf } from "./graph.ts";

/**
 * Where the CLI writes, and how it reads its environment and learns to stop (`serve`).
 *
 * @example Capture the output
 * ```ts
 * import type { CliIo } from "@cano/cano/admin";
 *
 * const lines: string[] = [];
 * const io: CliIo = {
 *   out: (line) => lines.push(line),
 *   err: (line) => lines.push(line),
 *   env: (name) => Deno.env.get(name),
 *   stopped: () => Promise.resolve(),
 * };
 * io.out("hello");
 * ```
 */
export interface CliIo {
  /** Writes a line to standard output. */
  out(line: string): void;
  /** Writes a line to standard error. */
  err(line: string): void;
  /** Reads an environment variable (the token of `serve`). */
  env(name: string): string | undefined;
  /** Resolves when `serve` should stop (Ctrl-C). */
  stopped(): Promise<void>;
}

/** The CLI's usage text. */
export const USAGE = `usage: deno run -A jsr:@cano/cano/admin --kv FILE [--prefix JSON] <command>

commands:
  list [--status S] [--workflow W] [--limit N] [--json]   unfinished runs (S: running, waiting,
                                                          failed, rolling_back)
  show ID [--json] [--hide-data]                          a run's record and rows
  cancel ID [--reason TEXT] [--json]                      request that a run be cancelled
  resume ID [--json]                                      hand a run nobody holds (its process
                                                          died, or it waits and is due) to
                                                          recovery now
  retry ID [--json]                                       hand a failed run to recovery: a
                                                          process running startRecovery with
                                                          its definition runs it again from
                                                          its last state
  send ID EVENT [--payload JSON] [--event-id KEY] [--json] send an event to a run
  export ID [--hide-data]                                 the run as a JSON document
  serve [--hostname H] [--port N] [--hide-data] [--read-only]
                                                          the web console on this file (token:
                                                          $CANO_ADMIN_TOKEN; required off
                                                          127.0.0.1)

--json prints one JSON object per line (list: one per run).`;

class UsageError extends CanoError {
  constructor(message: string) {
    super(message, { category: "configuration" });
    this.name = "UsageError";
  }
}

const STATUSES = new Set(["running", "waiting", "failed", "rolling_back"]);

/**
 * Runs the CLI (what `deno run -A jsr:@cano/cano/admin …` does), writing to `io`.
 *
 * @example List the runs of a KV file as JSON lines
 * ```ts
 * import { runCli } from "@cano/cano/admin";
 * import { KvCheckpointStore } from "@cano/cano/kv";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * const path = `${dir}/app.kv`;
 * const kv = await Deno.openKv(path);
 * const store = new KvCheckpointStore(kv);
 * await store.claim("order-1", { mode: "start", owner: "w", workflow: "order", version: 1 });
 * kv.close();
 *
 * const lines: string[] = [];
 * const io = { out: (l: string) => lines.push(l), err: (l: string) => lines.push(l), env: () => undefined, stopped: () => Promise.resolve() };
 * assert.equal(await runCli(["--kv", path, "list", "--json"], io), 0);
 * assert.equal(JSON.parse(lines[0]!).id, "order-1");
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @param args The arguments (after the program).
 * @param io Where to write, the environment, and the stop signal of `serve`.
 * @returns The exit code: 0 done, 1 failed, 2 bad usage.
 */
export async function runCli(args: readonly string[], io: CliIo): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(args);
  } catch (error) {
    io.err(messageOf(error));
    io.err(USAGE);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help === true) {
    io.out(USAGE);
    return 0;
  }
  try {
    const [command, ...rest] = positionals;
    if (command === undefined) throw new UsageError("No command given");
    if (values.kv === undefined) throw new UsageError("--kv FILE is required");
    const prefix = parsePrefix(values.prefix);
    const { kv, store } = await openCanoKv(values.kv, prefix);
    try {
      return await run(command, rest, values, store, io);
    } finally {
      kv.close();
    }
  } catch (error) {
    if (safeInstanceOf(error, UsageError)) {
      io.err(error.message);
      io.err(USAGE);
      return 2;
    }
    const name = safeInstanceOf(error, Error) ? error.name : "Error";
    io.err(`${name}: ${printable(messageOf(error))}`);
    return 1;
  }
}

function parse(args: readonly string[]) {
  return parseArgs({
    args: [...args],
    allowPositionals: true,
    strict: true,
    options: {
      kv: { type: "string" },
      prefix: { type: "string" },
      status: { type: "string" },
      workflow: { type: "string" },
      limit: { type: "string" },
      json: { type: "boolean" },
      "hide-data": { type: "boolean" },
      reason: { type: "string" },
      payload: { type: "string" },
      "event-id": { type: "string" },
      hostname: { type: "string" },
      port: { type: "string" },
      "read-only": { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
}

type Values = ReturnType<typeof parse>["values"];
type Store = Awaited<ReturnType<typeof openCanoKv>>["store"];

function parsePrefix(text: string | undefined): KvKey | undefined {
  if (text === undefined) return undefined;
  let prefix: unknown;
  try {
    prefix = JSON.parse(text);
  } catch {
    throw new UsageError(`--prefix must be a JSON array of strings, received ${printable(text)}`);
  }
  if (!Array.isArray(prefix) || !prefix.every((part) => typeof part === "string")) {
    throw new UsageError(`--prefix must be a JSON array of strings, received ${printable(text)}`);
  }
  return prefix as string[];
}

function one(rest: readonly string[], command: string, names: readonly string[]): string[] {
  if (rest.length !== names.length) {
    throw new UsageError(
      `${command} takes ${names.join(" ")}, received ${rest.length} argument(s)`,
    );
  }
  return [...rest];
}

async function run(
  command: string,
  rest: readonly string[],
  values: Values,
  store: Store,
  io: CliIo,
): Promise<number> {
  const now = Date.now();
  const json = values.json === true;
  switch (command) {
    case "list": {
      one(rest, "list", []);
      const status = values.status;
      if (status !== undefined && !STATUSES.has(status)) {
        throw new UsageError(
          `--status must be running, waiting, failed or rolling_back, received ${
            printable(status)
          }`,
        );
      }
      const limit = values.limit === undefined ? Infinity : Number(values.limit);
      if (!(limit >= 1) || (limit !== Infinity && !Number.isInteger(limit))) {
        throw new UsageError(
          `--limit must be a positive integer, received ${printable(values.limit!)}`,
        );
      }
      const runs = [];
      let cursor: string | undefined;
      do {
        const page = await store.listRuns({
          limit: Math.min(1_000, limit - runs.length),
          ...(status === undefined ? {} : { status: status as RunStatus }),
          ...(values.workflow === undefined ? {} : { workflow: values.workflow }),
          ...(cursor === undefined ? {} : { cursor }),
        });
        runs.push(...page.runs.map((info) => runView(info, now)));
        cursor = page.cursor;
      } while (cursor !== undefined && runs.length < limit);
      if (json) { for (const view of runs) io.out(JSON.stringify(view)); }
      else if (runs.length === 0) {
        io.out("No unfinished runs (completed runs leave nothing behind).");
      } else io.out(runsTable(runs, now));
      return 0;
    }
    case "show": {
      const [id] = one(rest, "show", ["ID"]);
      const [info, rows] = await Promise.all([store.getRun(id!), store.loadRun(id!)]);
      if (info === undefined && rows.length === 0) return notFound(id!, io);
      const run = info === undefined ? null : runView(info, now);
      const views = rowViews(rows, [], values["hide-data"] === true);
      if (json) {
        io.out(JSON.stringify({
          run,
          rows: views,
          path: pathOf(rows),
          actions: info === undefined ? null : actionsOf(info, context(store), now),
        }));
      } else io.out(runText(run, views, now));
      return 0;
    }
    case "cancel": {
      const [id] = one(rest, "cancel", ["ID"]);
      const result = await cancelRun(store, id!, values.reason ?? "cancelled with the admin CLI");
      if (result.outcome === "not_found") return notFound(id!, io);
      if (json) {
        io.out(JSON.stringify({
          outcome: result.outcome,
          run: result.run === undefined ? null : runView(result.run, now),
        }));
      } else io.out(`cancel ${printable(id!)}: ${result.outcome.replace("_", " ")}`);
      return result.outcome === "requested" || result.outcome === "already_requested" ? 0 : 1;
    }
    case "retry": {
      const [id] = one(rest, "retry", ["ID"]);
      const info = await store.getRun(id!);
      if (info === undefined) return notFound(id!, io);
      const retry = actionsOf(info, context(store), now).retry;
      if (!retry.allowed) {
        io.err(`retry ${printable(id!)}: refused: ${retry.why}`);
        return 1;
      }
      await handToRecovery(store, info);
      if (json) io.out(JSON.stringify({ started: true, mode: "recovery", id }));
      else {
        io.out(
          `retry ${printable(id!)}: handed to recovery (a process running startRecovery with ` +
            `workflow "${printable(info.workflow)}" version ${info.version} runs it again)`,
        );
      }
      return 0;
    }
    case "resume": {
      const [id] = one(rest, "resume", ["ID"]);
      const info = await store.getRun(id!);
      if (info === undefined) return notFound(id!, io);
      const refusal = resumeRefusal(info, now);
      if (refusal !== undefined) {
        io.err(`resume ${printable(id!)}: refused: ${refusal}`);
        return 1;
      }
      await handToRecovery(store, info);
      if (json) io.out(JSON.stringify({ started: true, mode: "recovery", id }));
      else {
        io.out(
          `resume ${printable(id!)}: handed to recovery (the next sweep of a process running ` +
            `startRecovery with workflow "${printable(info.workflow)}" version ${info.version} ` +
            "continues it)",
        );
      }
      return 0;
    }
    case "send": {
      const [id, name] = one(rest, "send", ["ID", "EVENT"]);
      let payload: unknown;
      if (values.payload !== undefined) {
        try {
          payload = JSON.parse(values.payload);
        } catch (error) {
          throw new UsageError(`--payload must be JSON: ${messageOf(error)}`);
        }
      }
      const result = await sendRunEvent(store, id!, name!, payload, values["event-id"]);
      if (json) io.out(JSON.stringify({ outcome: result.outcome, run: runView(result.run, now) }));
      else io.out(`send ${printable(name!)} to ${printable(id!)}: ${result.outcome}`);
      return 0;
    }
    case "export": {
      const [id] = one(rest, "export", ["ID"]);
      const document = await exportDocument(store, id!, values["hide-data"] === true);
      if (document.run === null && document.rows.length === 0) return notFound(id!, io);
      io.out(JSON.stringify(document, null, 2));
      return 0;
    }
    case "serve":
      one(rest, "serve", []);
      return await serve(values, store, io);
    default:
      throw new UsageError(`Unknown command ${printable(command)}`);
  }
}

function context(store: Store) {
  return { store, workflows: [], activity: undefined, track: () => {}, readOnly: false };
}

function notFound(id: string, io: CliIo): number {
  io.err(
    `Run ${printable(id)} has no record and no log: it completed (a finished run leaves nothing ` +
      "behind), was cleared, or never started",
  );
  return 1;
}

async function serve(values: Values, store: Store, io: CliIo): Promise<number> {
  const port = values.port === undefined ? 8787 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new UsageError(
      `--port must be an integer from 0 to 65535, received ${printable(values.port!)}`,
    );
  }
  const token = io.env("CANO_ADMIN_TOKEN");
  const server = serveAdmin({
    store,
    hostname: values.hostname ?? "127.0.0.1",
    port,
    hideData: values["hide-data"] === true,
    readOnly: values["read-only"] === true,
    ...(token === undefined || token === "" ? {} : { token }),
  });
  io.out(`admin console on ${server.url}${token ? " (token required)" : ""}; Ctrl-C stops it`);
  await io.stopped();
  await server.shutdown();
  return 0;
}
