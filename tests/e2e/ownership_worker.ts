// An owned, fenced order saga on a Deno KV file, run as a separate process by
// ownership_e2e_test.ts (several of them at once on one run).
//
// Usage: ownership_worker.ts '<json WorkerConfig>'
//
// Every side effect is appended to the journal file as `<role> <pid> <event>`, so the parent can
// tell which process did what. Lines printed on stdout (one per line, machine-readable):
//
// - `READY` — the store and workflow are built; with `barrier`, the worker then waits for `GO` on
//   stdin before it claims the run (so the parent can release several workers at one moment).
// - `HANG <point>` — the worker blocks forever at `point`, waiting to be SIGKILLed.
// - `PAUSED <point>` — the worker is about to SIGSTOP itself at `point` (the parent SIGCONTs it).
// - `BLOCKED <point>` — the worker blocks its event loop (synchronously, so its heartbeat cannot
//   renew the lease) at `point` until `releaseFile` exists.
// - `HELD <point>` — the worker waits (asynchronously, its lease renewed) at `point` until
//   `releaseFile` exists.
// - `RETRY <json>` — after a RunOwnedError, with `retryOwned`: the time it retries at.
// - `RESULT <json>`, `ERROR <json>` — how a run call ended (`ERROR` may repeat with `retryOwned`).
// - `STATS <json>` — KV commits made after the pause (`PAUSED` or `BLOCKED`), if there was one.
//
// The worker exits 0 whatever the run's outcome (the parent judges), 2 on bad usage, 3 when its
// safety timeout elapses.

import { delay } from "../../src/async.ts";
import { KvCheckpointStore, type KvLike } from "../../kv.ts";
import { TaskConfig, Workflow } from "../../mod.ts";
import { exitAfter, openKvRetrying, workerConfig } from "../_subprocess.ts";

/** What one worker process does. */
export interface WorkerConfig {
  /** Its name in the journal. */
  role: string;
  /** `start`: orchestrate (`ifExists: "fail"`); `startOrResume`: orchestrate with `ifExists: "resume"`; `resume`: resumeFrom. */
  mode: "start" | "startOrResume" | "resume";
  kvPath: string;
  journalPath: string;
  id: string;
  /** The store's lease length in milliseconds. */
  leaseMs: number;
  /** Whether the ship task fails (a saga rollback follows). */
  failShip?: boolean;
  /** Print READY, then wait for `GO` on stdin before claiming. */
  barrier?: boolean;
  /** Where to print `HANG` and block until killed. */
  hangAt?: string;
  /** Where to SIGSTOP itself. */
  stopAt?: string;
  /** Where to block the event loop until `releaseFile` exists. */
  blockAt?: string;
  /** Where to wait asynchronously until `releaseFile` exists. */
  holdAt?: string;
  /** The file that ends a `blockAt` or `holdAt` wait. */
  releaseFile?: string;
  /** On RunOwnedError, wait until the lease expires and try once more. */
  retryOwned?: boolean;
}

/** How a run call ended in error, as printed on an `ERROR` line. */
export interface WorkerError {
  name: string;
  category: string | undefined;
  message: string;
  /** RunOwnedError: the owner holding the run. */
  owner?: string;
  /** RunOwnedError: when its lease expires (epoch ms). */
  leaseUntil?: number;
  /** OwnershipLostError: why. */
  reason?: string;
  /** When the error was caught (epoch ms). */
  at: number;
}

/** What a `STATS` line reports. */
export interface WorkerStats {
  /** KV commits attempted after the pause. */
  commitsAfterPause: number;
  /** Of those, the ones that landed (writes). */
  writesAfterPause: number;
}

const config = workerConfig<WorkerConfig>("ownership_worker.ts '<json WorkerConfig>'");
exitAfter(30_000, "TIMEOUT");

type Step = "reserve" | "charge" | "ship" | "notify" | "done";
interface Order {
  orderId: string;
  reservation?: string;
  charge?: string;
  tracking?: string;
}

function journal(event: string): void {
  Deno.writeTextFileSync(config.journalPath, `${config.role} ${Deno.pid} ${event}\n`, {
    append: true,
  });
}

// KV operations in flight (so a pause never freezes a commit, which would hold SQLite's write
// lock), and the commits made after a pause.
let inFlight = 0;
const idle: (() => void)[] = [];
let paused = false;
const stats: WorkerStats = { commitsAfterPause: 0, writesAfterPause: 0 };

function tracked<T>(operation: Promise<T>): Promise<T> {
  inFlight += 1;
  return operation.finally(() => {
    inFlight -= 1;
    if (inFlight === 0) { for (const wake of idle.splice(0)) wake(); }
  });
}

async function quiet(): Promise<void> {
  while (inFlight > 0) await new Promise<void>((resolve) => idle.push(resolve));
}

const kv = await openKvRetrying(config.kvPath, 50, () => 5 + Math.random() * 20);
const counting: KvLike = {
  get: (key) => tracked(kv.get(key)),
  list: (selector, options) => kv.list(selector, options),
  atomic() {
    const op = kv.atomic();
    return {
      check: (...checks) => op.check(...checks),
      set: (key, value) => op.set(key, value),
      delete: (key) => op.delete(key),
      commit: async () => {
        const after = paused;
        const result = await tracked(op.commit());
        if (after) {
          stats.commitsAfterPause += 1;
          if (result.ok) stats.writesAfterPause += 1;
        }
        return result;
      },
    };
  },
};

function released(): boolean {
  try {
    Deno.statSync(config.releaseFile!);
    return true;
  } catch {
    return false;
  }
}

/** Blocks the whole thread for `ms` (timers, heartbeat and I/O callbacks included). */
function blockThread(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * A point where a test may stop this process: hang (until SIGKILL), stop (SIGSTOP), block the
 * event loop, or hold asynchronously. After a stop or a block the run is not this process's any
 * more: inside a task (with `signal`) the worker then waits, abortably, for the engine to notice;
 * it goes on with its side effects after 10 s if the engine never does.
 */
function point(name: string, signal?: AbortSignal): void | Promise<void> {
  if (config.hangAt === name) {
    console.log(`HANG ${name}`);
    for (;;) blockThread(60_000);
  }
  if (config.blockAt === name) {
    // Synchronous (usable in an event listener). A commit already in flight finishes on KV's own
    // thread; commits started from now on count as after the pause.
    paused = true;
    console.log(`BLOCKED ${name}`);
    const until = Date.now() + 20_000;
    while (!released() && Date.now() < until) blockThread(10);
    return signal === undefined ? undefined : delay(10_000, signal);
  }
  if (config.stopAt === name) {
    return (async () => {
      await quiet(); // never freeze a commit: SIGSTOP would freeze SQLite's write lock with it
      paused = true;
      console.log(`PAUSED ${name}`);
      Deno.kill(Deno.pid, "SIGSTOP"); // the parent sends SIGCONT
      await delay(10_000, signal);
    })();
  }
  if (config.holdAt === name) {
    return (async () => {
      console.log(`HELD ${name}`);
      while (!released()) await delay(10);
    })();
  }
}

const store = new KvCheckpointStore(counting, {
  leaseMs: config.leaseMs,
  retry: { attempts: 30, baseDelay: 5 },
});
const workflow = new Workflow<Step, Order>({ name: "order" })
  .registerWithCompensation("reserve", {
    name: "reserve",
    config: TaskConfig.minimal(),
    run: async (ctx) => {
      journal("reserve:start");
      await point("inside-reserve", ctx.signal);
      ctx.data.reservation = `res-${ctx.data.orderId}`;
      journal("reserve:done");
      return { next: "charge", output: { reservation: ctx.data.reservation } };
    },
    compensate: async (ctx, output) => {
      journal(`reserve:compensate-start ${output.reservation}`);
      await point("inside-compensate-reserve", ctx.signal);
      journal(`reserve:compensate-done ${output.reservation}`);
    },
  })
  .registerWithCompensation("charge", {
    name: "charge",
    config: TaskConfig.minimal(),
    run: async (ctx) => {
      journal("charge:start");
      await point("inside-charge", ctx.signal);
      ctx.data.charge = `ch-${ctx.data.orderId}`;
      journal("charge:done");
      return { next: "ship", output: { charge: ctx.data.charge } };
    },
    compensate: async (ctx, output) => {
      journal(`charge:compensate-start ${output.charge}`);
      await point("inside-compensate-charge", ctx.signal);
      journal(`charge:compensate-done ${output.charge}`);
    },
  })
  .register("ship", async (ctx) => {
    journal("ship:start");
    await point("inside-ship", ctx.signal);
    if (config.failShip) {
      journal("ship:fail");
      throw new Error("courier refused the parcel");
    }
    ctx.data.tracking = `trk-${ctx.data.orderId}`;
    journal("ship:done");
    return "notify";
  }, { config: TaskConfig.minimal() })
  .register("notify", async (ctx) => {
    journal("notify:start");
    await point("inside-notify", ctx.signal);
    journal("notify:done");
    return "done";
  }, { config: TaskConfig.minimal() })
  .addExitState("done")
  .withCheckpointStore(store);

// `after-row-<n>`: row n of the log is durable (the engine goes on once listeners return).
workflow.addEventListener("checkpoint", (event) => point(`after-row-${event.sequence}`));
// `ship-failed`: the ship task failed; its saga rollback is not recorded yet.
workflow.addEventListener("taskfailure", (event) => {
  if (event.state === "ship") point("ship-failed");
});
// `notify-returned`: notify's task returned; the next state's row is not written yet.
workflow.addEventListener("tasksuccess", (event) => {
  if (event.state === "notify") point("notify-returned");
});

function describe(error: unknown): WorkerError {
  const e = error as Partial<Record<string, unknown>>;
  const info: WorkerError = {
    name: String(e?.name),
    category: typeof e?.category === "string" ? e.category : undefined,
    message: String(e?.message),
    at: Date.now(),
  };
  if (typeof e?.owner === "string") info.owner = e.owner;
  if (e?.leaseUntil instanceof Date) info.leaseUntil = e.leaseUntil.getTime();
  if (typeof e?.reason === "string") info.reason = e.reason;
  return info;
}

function runOnce(): Promise<unknown> {
  if (config.mode === "resume") return workflow.resumeFrom(config.id);
  return workflow.orchestrate("reserve", {
    id: config.id,
    data: { orderId: config.id },
    ifExists: config.mode === "startOrResume" ? "resume" : "fail",
  });
}

async function readLine(expected: string): Promise<void> {
  const reader = Deno.stdin.readable.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    while (!buffer.split("\n").includes(expected)) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`stdin closed before ${expected}`);
      buffer += value;
    }
  } finally {
    reader.releaseLock();
  }
}

try {
  console.log("READY");
  if (config.barrier) await readLine("GO");
  for (let attempt = 1;; attempt++) {
    try {
      console.log(`RESULT ${JSON.stringify(await runOnce())}`);
      break;
    } catch (error) {
      const info = describe(error);
      console.log(`ERROR ${JSON.stringify(info)}`);
      if (!config.retryOwned || attempt > 1 || info.name !== "RunOwnedError") break;
      await delay(Math.max(0, (info.leaseUntil ?? 0) - Date.now()) + 25);
      console.log(`RETRY ${JSON.stringify({ at: Date.now() })}`);
    }
  }
  if (paused) console.log(`STATS ${JSON.stringify(stats)}`);
} finally {
  kv.close();
}
Deno.exit(0);
