// One process of wait_e2e_test.ts: the processes share one Deno KV file and each does one thing
// to the runs of an approval workflow with a wait state (`registerWait`), then exits — or is
// SIGKILLed by the test while it waits.
//
// Usage: wait_worker.ts '<json WaitWorkerConfig>'
//
// The workflow: "ask" waits for "approved" (→ "ship") or "rejected" (→ "refund"), with an optional
// deadline (→ "expired"). "ship", "refund" and "expired" are the side effects: each execution
// writes one journal entry ({@link JournalEntry}) to the same KV file, with the event it saw in
// `ctx.event`, so the test can count how often each state ran and in which process. "ship" loops
// back to "ask" until the run has `rounds` approvals (default 1), then ends.
//
// Modes ({@link WaitWorkerConfig.mode}):
// - `wait`: `orchestrate` the first id with the default `onWait: "wait"` — the process itself
//   waits for the parked run (and wakes it when it is due); prints `settled` if that ever ends.
// - `park`: `orchestrate` every id with `onWait: "return"`, prints `parked` for each, exits.
// - `send`: `store.sendEvent(id, event, payload, { eventId })` for every id, printing `sent` (or
//   `refused`); with `gate`, it prints `ready` first and sends only once its stdin closes, so that
//   the test can release two senders at the same moment.
// - `sweep`: `startRecovery(…)`, one `sweep()`, prints `swept`, then `recovered` for every id
//   once its run ended or parked again, stops the sweeper and exits.
//
// Stdout: one JSON object per line ({@link WaitWorkerLine}). Exit 0 when done, 1 on an unexpected
// error, 3 when the safety timeout elapses.

import { KvCheckpointStore } from "../../kv.ts";
import {
  EventRefusedError,
  type RecoveredEvent,
  startRecovery,
  TaskConfig,
  type TaskContext,
  Workflow,
} from "../../mod.ts";
import { exitAfter, openKvRetrying, workerConfig } from "../_subprocess.ts";

/** What one worker process does. */
export interface WaitWorkerConfig {
  mode: "wait" | "park" | "send" | "sweep";
  kvPath: string;
  /** The run ids it works on. */
  ids: string[];
  /** The wait state's deadline, in ms (none when absent). */
  timeoutMs?: number;
  /** Approvals a run takes before it ends (`ship` loops back to `ask` until then). Default 1. */
  rounds?: number;
  /** `send`: the event name. */
  event?: string;
  /** `send`: the eventId of run `id` is `${eventId}:${id}` (none when absent). */
  eventId?: string;
  /** `send`: the payload. */
  payload?: unknown;
  /** `send`: print `ready`, then send once stdin closes. */
  gate?: boolean;
  /** Exit code 3 after this long, whatever happens. */
  safetyMs: number;
}

export type Step = "ask" | "ship" | "refund" | "expired" | "done";

export interface Data {
  amount: number;
  approvals: number;
}

/** The event a state saw, as journaled (`null` after the deadline). */
export interface SeenEvent {
  name: string;
  payload: unknown;
  eventId: string | null;
  seq: number;
}

/** A journal entry, at `["journal", runId, state, pid, n]`: one execution of a side effect. */
export interface JournalEntry {
  pid: number;
  mode: WaitWorkerConfig["mode"];
  event: SeenEvent | null;
  /** The run's approvals before this execution. */
  approvals: number;
  at: number;
}

/** What a worker prints, one per line. */
export type WaitWorkerLine =
  | { t: "ready"; pid: number }
  | { t: "parked"; id: string; state: string; events: string[]; until: number | null }
  | { t: "settled"; id: string; status: string; state?: string; error?: string }
  | { t: "sent"; id: string; outcome: string; at: number }
  | { t: "refused"; id: string; name: string; reason: string; message: string }
  | { t: "swept"; resumed: number; unknown: number; deferred: number }
  | { t: "recovered"; id: string; outcome: string; error?: string }
  | { t: "error"; message: string }
  | { t: "timeout" };

const config = workerConfig<WaitWorkerConfig>("wait_worker.ts '<json WaitWorkerConfig>'");
exitAfter(config.safetyMs, JSON.stringify({ t: "timeout" } satisfies WaitWorkerLine));

function print(line: WaitWorkerLine): void {
  console.log(JSON.stringify(line));
}

const kv = await openKvRetrying(config.kvPath);

/** `kv.set`, retrying `database is locked` (another process holds SQLite's write lock). */
async function put(key: Deno.KvKey, value: unknown): Promise<void> {
  for (let attempt = 1;; attempt++) {
    try {
      await kv.set(key, value);
      return;
    } catch (error) {
      if (attempt >= 500 || !String(error).includes("database is locked")) throw error;
      await new Promise((resolve) => setTimeout(resolve, 2 + Math.random() * 18));
    }
  }
}

const store = new KvCheckpointStore(kv);
const rounds = config.rounds ?? 1;
let executions = 0;

/** A side effect: one journal entry per execution, with the event the state saw. */
function effect(state: Exclude<Step, "ask" | "done">) {
  return async (ctx: TaskContext<Step, Data>): Promise<void> => {
    const event = ctx.event;
    const entry: JournalEntry = {
      pid: Deno.pid,
      mode: config.mode,
      event: event === undefined ? null : {
        name: event.name,
        payload: event.payload,
        eventId: event.eventId ?? null,
        seq: event.seq,
      },
      approvals: ctx.data.approvals,
      at: Date.now(),
    };
    await put(["journal", ctx.workflowId!, state, Deno.pid, ++executions], entry);
  };
}

const workflow = new Workflow<Step, Data>({ name: "e2e-approval" })
  .registerWait("ask", {
    events: { approved: "ship", rejected: "refund" },
    ...(config.timeoutMs === undefined
      ? {}
      : { timeout: { after: config.timeoutMs, next: "expired" as const } }),
  })
  .register("ship", async (ctx) => {
    await effect("ship")(ctx);
    ctx.data.approvals += 1;
    return ctx.data.approvals < rounds ? "ask" : "done";
  }, { config: TaskConfig.minimal() })
  .register("refund", async (ctx) => {
    await effect("refund")(ctx);
    return "done";
  }, { config: TaskConfig.minimal() })
  .register("expired", async (ctx) => {
    await effect("expired")(ctx);
    return "done";
  }, { config: TaskConfig.minimal() })
  .addExitState("done")
  .withCheckpointStore(store);

function message(error: unknown): string {
  const e = error as { name?: unknown; message?: unknown };
  return `${String(e?.name)}: ${String(e?.message)}`;
}

async function readStdinToEnd(): Promise<void> {
  try {
    for await (const _ of Deno.stdin.readable) {
      // the test only closes it
    }
  } catch {
    // closed
  }
}

let code = 0;
try {
  switch (config.mode) {
    case "wait": {
      // The run parks; this call keeps waiting for it (no lease: the process only polls).
      const id = config.ids[0]!;
      print({ t: "ready", pid: Deno.pid });
      const result = await workflow.orchestrate("ask", { id, data: { amount: 120, approvals: 0 } })
        .then(
          (done) => ({ t: "settled", id, status: "done", state: done.state }) as const,
          (error: unknown) =>
            ({ t: "settled", id, status: "rejected", error: message(error) }) as const,
        );
      print(result);
      break;
    }
    case "park": {
      for (const id of config.ids) {
        const result = await workflow.orchestrate("ask", {
          id,
          data: { amount: 120, approvals: 0 },
          onWait: "return",
        });
        if (result.status !== "waiting") {
          print({ t: "error", message: `run ${id} did not park: it ended in ${result.state}` });
          code = 1;
          continue;
        }
        print({
          t: "parked",
          id,
          state: result.state,
          events: result.events,
          until: result.until?.getTime() ?? null,
        });
      }
      break;
    }
    case "send": {
      await store.getRun(config.ids[0]!); // the database is open and read before the gate
      if (config.gate === true) {
        print({ t: "ready", pid: Deno.pid });
        await readStdinToEnd();
      }
      await Promise.all(config.ids.map(async (id) => {
        const options = config.eventId === undefined ? {} : { eventId: `${config.eventId}:${id}` };
        try {
          const sent = await store.sendEvent(id, config.event!, config.payload, options);
          print({ t: "sent", id, outcome: sent.outcome, at: Date.now() });
        } catch (error) {
          if (!(error instanceof EventRefusedError)) throw error;
          print({
            t: "refused",
            id,
            name: error.name,
            reason: error.reason,
            message: message(error),
          });
        }
      }));
      break;
    }
    case "sweep": {
      const waiting = new Set(config.ids);
      let allEnded!: () => void;
      const ended = new Promise<void>((resolve) => allEnded = resolve);
      const resumed = new Set<string>();
      const recovery = startRecovery({
        store,
        workflows: [workflow],
        every: 86_400_000,
        concurrency: Math.min(1_000, Math.max(4, config.ids.length)), // all of them in one sweep
      });
      recovery.addEventListener("recover", (event) => resumed.add(event.runId));
      recovery.addEventListener("recovered", (event: RecoveredEvent) => {
        if (!waiting.delete(event.runId)) return;
        print({
          t: "recovered",
          id: event.runId,
          outcome: event.outcome,
          ...(event.error === undefined ? {} : { error: message(event.error) }),
        });
        if (waiting.size === 0) allEnded();
      });
      recovery.addEventListener("sweeperror", (event) => {
        print({ t: "error", message: `sweep error: ${message(event.error)}` });
      });
      const swept = await recovery.sweep();
      print({ t: "swept", ...swept });
      // A run this sweep did not resume (it was not due) is reported, not waited for.
      for (const id of swept.deferred > 0 ? [] : [...waiting]) {
        if (resumed.has(id)) continue;
        waiting.delete(id);
        print({ t: "recovered", id, outcome: "not_resumed" });
      }
      if (waiting.size > 0) await ended;
      await recovery.stop();
      break;
    }
  }
} catch (error) {
  print({ t: "error", message: message(error) });
  code = 1;
}
kv.close();
Deno.exit(code);
