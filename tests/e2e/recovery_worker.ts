// One of several processes sharing a Deno KV file, run by recovery_e2e_test.ts: it starts its share
// of the runs of a five-state checkpointed workflow and sweeps for expired runs (`startRecovery`)
// at the same time, so the runs of a process the test SIGKILLs are finished by the others.
//
// Usage: recovery_worker.ts '<json RecoveryWorkerConfig>'
//
// Every state's task is a side effect journaled in the same KV file ({@link JournalEntry}): its
// intent, then — unless the run's signal has aborted — a short random wait (the effect), then when
// the effect began and stopped; every claim the process wins is journaled too ({@link ClaimEntry}),
// so the parent can prove that no two processes executed a run at once and that no process acted
// on a run after another one claimed it. Slow store calls and event-loop stalls are reported, to
// tell a slow disk from a blocked process. Stdout: one JSON object per line ({@link WorkerLine}).
// The worker runs until its stdin closes, then stops its sweeper, waits for its runs, closes the
// KV handle and exits 0 (3 when its safety timeout elapses).

import { delay } from "../../src/async.ts";
import {
  type ClaimRequest,
  type ClaimResult,
  KvCheckpointStore,
  type KvLike,
  type RunLease,
} from "../../kv.ts";
import { startRecovery, TaskConfig, Workflow } from "../../mod.ts";
import { exitAfter, openKvRetrying, workerConfig } from "../_subprocess.ts";

/** What one worker does. */
export interface RecoveryWorkerConfig {
  /** Its name in the output. */
  name: string;
  kvPath: string;
  /** The run ids it starts. */
  ids: string[];
  /** The store's lease. */
  leaseMs: number;
  /** Tasks this process executes at once (the other runs wait, their leases renewed). */
  slots: number;
  /** `startRecovery` interval. */
  every: number;
  /** `startRecovery` concurrency. */
  concurrency: number;
  /** Exit code 3 after this long, whatever happens. */
  safetyMs: number;
}

/** The workflow's states, in order. */
export const STATES = ["s1", "s2", "s3", "s4", "s5"] as const;
export type Step = (typeof STATES)[number] | "done";

/**
 * A journal entry, at `["journal", runId, state, execution, "start" | "end"]`. One execution is
 * one call of a state's task in one process.
 */
export interface JournalEntry {
  pid: number;
  worker: string;
  /** Epoch ms. `start`: before anything (the intent); `end`: when the side effect stopped. */
  at: number;
  /**
   * On `end`: when the side effect began — after the `start` entry was durable and the run's
   * signal was checked. Absent when the signal had aborted by then (nothing was done).
   */
  began?: number;
  /** On `end`: the run's signal stopped the task (before or during the side effect). */
  aborted?: boolean;
}

/**
 * A claim this process won, at `["claims", runId, decidedAt, pid]`: `decidedAt` is the store's
 * clock when it granted the claim (the lease's expiry minus the lease), which orders the claims of
 * one run as the store serialised them.
 */
export interface ClaimEntry {
  pid: number;
  worker: string;
  owner: string;
  /** When the claim call returned. */
  at: number;
}

/** What a worker prints, one per line. */
export type WorkerLine =
  | { t: "ready"; pid: number }
  /** Every run of its share has its first row durable (so its record exists). */
  | { t: "allStarted"; at: number }
  /** A side effect ended (`n` counts them in this process). */
  | { t: "progress"; n: number }
  | { t: "completed"; id: string; via: "orchestrate" | "recovery" }
  | { t: "recover"; id: string }
  | { t: "recovered"; id: string; outcome: string; error?: ErrorInfo }
  | { t: "runerror"; id: string; error: ErrorInfo }
  | { t: "sweeperror"; error: ErrorInfo }
  | { t: "unknownworkflow"; id: string; reason: string }
  /** The event loop was blocked for `ms` (a timer came that much late). */
  | { t: "stall"; ms: number; at: number }
  /** A store call (or a raw KV commit) took `ms`, more than a quarter lease. */
  | { t: "slow"; op: string; id?: string; ms: number; at: number; failed?: string }
  | { t: "exit"; at: number; maxLagMs: number };

export interface ErrorInfo {
  name: string;
  message: string;
  cause?: string;
}

const config = workerConfig<RecoveryWorkerConfig>(
  "recovery_worker.ts '<json RecoveryWorkerConfig>'",
);
exitAfter(config.safetyMs, JSON.stringify({ t: "timeout" }));

function print(line: WorkerLine): void {
  console.log(JSON.stringify(line));
}

function info(error: unknown): ErrorInfo {
  const e = error as { name?: unknown; message?: unknown; cause?: unknown };
  const cause = e?.cause as { name?: unknown; message?: unknown } | undefined;
  return {
    name: String(e?.name),
    message: String(e?.message),
    ...(cause === undefined ? {} : { cause: `${cause?.name}: ${cause?.message}` }),
  };
}

// Event-loop lag: a lease renewal cannot run while the loop is blocked, so a long stall explains a
// legitimate takeover.
let maxLag = 0;
let lastTick = Date.now();
const lagTimer = setInterval(() => {
  const now = Date.now();
  const lag = now - lastTick - 50;
  lastTick = now;
  if (lag > maxLag) maxLag = lag;
  if (lag > config.leaseMs / 4) print({ t: "stall", ms: lag, at: now });
}, 50);

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

/** A FIFO semaphore of `config.slots`; waiting is abortable. */
let free = config.slots;
const queue: (() => void)[] = [];
async function acquire(signal: AbortSignal): Promise<() => void> {
  signal.throwIfAborted();
  if (free > 0) {
    free -= 1;
  } else {
    await new Promise<void>((resolve, reject) => {
      const wake = (): void => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      };
      const onAbort = (): void => {
        queue.splice(queue.indexOf(wake), 1);
        reject(signal.reason);
      };
      queue.push(wake);
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }
  let released = false;
  return () => {
    if (released) return;
    released = true;
    const next = queue.shift();
    if (next === undefined) free += 1;
    else next();
  };
}

let executions = 0;
let effects = 0;

/**
 * One state's side effect, journaled: the intent (`start`), then — if the run's signal has not
 * aborted by the time the entry is durable — a short wait that stands for the effect, then `end`
 * with when the effect began and stopped.
 */
async function effect(runId: string, state: string, signal: AbortSignal): Promise<void> {
  const release = await acquire(signal);
  try {
    signal.throwIfAborted();
    const execution = `${Deno.pid}-${++executions}`;
    const key = ["journal", runId, state, execution];
    await put([...key, "start"], { pid: Deno.pid, worker: config.name, at: Date.now() });
    let began: number | undefined;
    let aborted = false;
    try {
      signal.throwIfAborted(); // a well-behaved task checks its signal before acting
      began = Date.now();
      await delay(5 + Math.random() * 25, signal);
    } catch (error) {
      aborted = true;
      throw error;
    } finally {
      const end: JournalEntry = {
        pid: Deno.pid,
        worker: config.name,
        at: Date.now(),
        aborted,
        ...(began === undefined ? {} : { began }),
      };
      await put([...key, "end"], end);
      print({ t: "progress", n: ++effects });
    }
  } finally {
    release();
  }
}

/** Reports the store calls of the heartbeat that take long (a late renewal risks the lease). */
class TimedStore extends KvCheckpointStore {
  override async claim(workflowId: string, request: ClaimRequest): Promise<ClaimResult> {
    const result = await super.claim(workflowId, request);
    const decidedAt = result.lease.leaseUntil - this.leaseMs;
    const entry: ClaimEntry = {
      pid: Deno.pid,
      worker: config.name,
      owner: result.lease.owner,
      at: Date.now(),
    };
    await put(["claims", workflowId, decidedAt, Deno.pid], entry);
    return result;
  }

  override async renew(lease: RunLease): Promise<void> {
    const began = Date.now();
    let failed: string | undefined;
    try {
      return await super.renew(lease);
    } catch (error) {
      failed = info(error).message;
      throw error;
    } finally {
      const ms = Date.now() - began;
      if (ms > config.leaseMs / 4 || failed !== undefined) {
        print({
          t: "slow",
          op: "renew",
          id: lease.id,
          ms,
          at: Date.now(),
          ...(failed === undefined ? {} : { failed }),
        });
      }
    }
  }
}

/** The KV handle, its commits timed. */
const timed: KvLike = {
  get: (key) => kv.get(key as Deno.KvKey),
  list: (selector, options) => kv.list(selector as Deno.KvListSelector, options),
  atomic() {
    const op = kv.atomic();
    return {
      check: (...checks) => op.check(...checks),
      set: (key, value) => op.set(key as Deno.KvKey, value),
      delete: (key) => op.delete(key as Deno.KvKey),
      commit: async () => {
        const began = Date.now();
        try {
          return await op.commit();
        } finally {
          const ms = Date.now() - began;
          if (ms > config.leaseMs / 4) print({ t: "slow", op: "commit", ms, at: Date.now() });
        }
      },
    };
  },
};

const store = new TimedStore(timed, { leaseMs: config.leaseMs });
let workflow = new Workflow<Step, { n: number }>({ name: "e2e-job" });
STATES.forEach((state, i) => {
  const next: Step = STATES[i + 1] ?? "done";
  workflow = workflow.register(state, async (ctx) => {
    await effect(ctx.workflowId!, state, ctx.signal);
    return next;
  }, { config: TaskConfig.minimal() });
});
workflow = workflow.addExitState("done").withCheckpointStore(store);

const mine = new Set(config.ids);
const started = new Set<string>();
/** A run of the share has its first row durable, or its start failed. */
function settled(id: string): void {
  if (!mine.has(id) || started.has(id)) return;
  started.add(id);
  if (started.size === mine.size) print({ t: "allStarted", at: Date.now() });
}
workflow.addEventListener("checkpoint", (event) => {
  if (event.sequence === 0 && event.workflowId !== undefined) settled(event.workflowId);
});

print({ t: "ready", pid: Deno.pid });

/** Completion marks being written for recovered runs. */
const marks = new Set<Promise<void>>();
const recovery = startRecovery({
  store,
  workflows: [workflow],
  every: config.every,
  concurrency: config.concurrency,
});
recovery.addEventListener("recover", (e) => print({ t: "recover", id: e.runId }));
recovery.addEventListener("recovered", (e) => {
  print({
    t: "recovered",
    id: e.runId,
    outcome: e.outcome,
    ...(e.error === undefined ? {} : { error: info(e.error) }),
  });
  if (e.outcome === "completed") {
    const marked = put(["completed", e.runId], { pid: Deno.pid, via: "recovery" }).then(
      () => print({ t: "completed", id: e.runId, via: "recovery" }),
      (error: unknown) => print({ t: "runerror", id: e.runId, error: info(error) }),
    );
    marks.add(marked);
    void marked.finally(() => marks.delete(marked));
  }
});
recovery.addEventListener("sweeperror", (e) => print({ t: "sweeperror", error: info(e.error) }));
recovery.addEventListener("unknownworkflow", (e) => {
  print({ t: "unknownworkflow", id: e.runId, reason: e.reason });
});

// All runs of the share at once: their first rows (and records) land at the start; the slots then
// let `config.slots` side effects run at a time.
const runs = config.ids.map((id, n) =>
  workflow.orchestrate("s1", { id, data: { n } }).then(
    async () => {
      await put(["completed", id], { pid: Deno.pid, via: "orchestrate" });
      print({ t: "completed", id, via: "orchestrate" });
    },
    (error: unknown) => {
      print({ t: "runerror", id, error: info(error) });
      settled(id);
    },
  )
);

// Until the parent closes stdin.
try {
  for await (const _ of Deno.stdin.readable) {
    // nothing is expected on stdin
  }
} catch {
  // closed
}
await recovery.stop();
await Promise.all(runs);
await Promise.all(marks);
kv.close();
clearInterval(lagTimer);
print({ t: "exit", at: Date.now(), maxLagMs: maxLag });
Deno.exit(0);
