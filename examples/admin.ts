/**
 * Admin console: a few workflows checkpointing to Deno KV — an order that failed at `charge`
 * (retry it from the console once the payment provider is back), a trip whose saga rollback
 * failed half-way (its compensations are in the timeline), an import that keeps running (cancel
 * it), an expense parked waiting for a manager (send it `approved`) — plus a scheduler with a
 * manual, an interval and a failing flow, a circuit breaker and a rate limiter, all in the
 * console at http://127.0.0.1:8787/.
 *
 * Run it with `deno task example:admin` (until Ctrl-C), or
 * `deno run --allow-net=127.0.0.1 examples/admin.ts --seconds 5 --port 0`. With
 * `--kv FILE` (and `--allow-read --allow-write`) the runs live in that file, so the CLI can read
 * it from another terminal: `deno run -A admin.ts --kv FILE list`.
 *
 * @module
 */
import { KvCheckpointStore } from "../kv.ts";
import {
  CircuitBreaker,
  RateLimiter,
  type Recovery,
  RetryMode,
  startRecovery,
  TaskConfig,
  Workflow,
} from "../mod.ts";
import { type RunningScheduler, Scheduler } from "../scheduler.ts";
import { type AdminServer, serveAdmin } from "../admin.ts";

/** What {@link startDemo} started. */
export interface Demo {
  /** The console. */
  readonly server: AdminServer;
  /** The store the runs live in. */
  readonly store: KvCheckpointStore;
  /** The scheduler whose flows the console shows. */
  readonly scheduler: RunningScheduler;
  /** The expense workflow (tests park runs of their own with it). */
  readonly expenses: ReturnType<typeof expenseWorkflow>;
  /** Stops everything (the running import is cancelled) and closes the database. */
  stop(): Promise<void>;
}

/** The run ids the demo starts. */
export const DEMO_IDS = {
  failed: "order-1002",
  brokenSaga: "trip-77",
  running: "import-2024-06",
  waiting: "expense-31",
} as const;

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(signal.reason);
    }, { once: true });
  });
}

/** The payment provider: down until the demo brings it back, so a retry then succeeds. */
const provider = { up: false };
const payments = new CircuitBreaker({ failureThreshold: 5, resetTimeout: 30_000 });
const api = RateLimiter.perSecond(5, { burst: 10 });

function orderWorkflow(store: KvCheckpointStore) {
  type Step = "validate" | "charge" | "ship" | "done";
  return new Workflow<Step, { order: number; amount: number; receipt?: string }>({ name: "order" })
    .register("validate", (ctx) => ctx.data.amount > 0 ? "charge" : "done", {
      next: ["charge", "done"],
    })
    .register("charge", (ctx) => {
      if (!provider.up) throw new Error("payment provider unavailable (HTTP 503)");
      ctx.data.receipt = `rcpt-${ctx.data.order}`;
      return "ship";
    }, { next: ["ship"], config: { retry: RetryMode.fixed(2, 20), circuitBreaker: payments } })
    .register("ship", () => "done", { next: ["done"], config: TaskConfig.minimal() })
    .addExitState("done")
    .withCheckpointStore(store);
}

function tripWorkflow(store: KvCheckpointStore) {
  type Step = "hotel" | "flight" | "pay" | "booked";
  const once = TaskConfig.minimal();
  return new Workflow<Step, { trip: string }>({ name: "trip" })
    .registerWithCompensation("hotel", {
      name: "hotel",
      config: once,
      run: () => ({ next: "flight", output: { booking: "HTL-5521" } }),
      compensate: () => Promise.reject(new Error("hotel API timed out while cancelling")),
    }, { next: ["flight"] })
    .registerWithCompensation("flight", {
      name: "flight",
      config: once,
      run: () => ({ next: "pay", output: { ticket: "LH-4410" } }),
      compensate: () => {},
    }, { next: ["pay"] })
    .register("pay", () => {
      throw new Error("card expired");
    }, { next: ["booked"], config: once })
    .addExitState("booked")
    .withCheckpointStore(store);
}

function importWorkflow(store: KvCheckpointStore) {
  type Step = "fetch" | "transform" | "store" | "done";
  return new Workflow<Step, { source: string; pages?: number }>({ name: "import" })
    .register("fetch", (ctx) => {
      ctx.data.pages = 0;
      return "transform";
    }, { next: ["transform"] })
    .registerStepped("transform", {
      config: { retry: RetryMode.none(), rateLimiter: api },
      step: async (ctx, cursor: number | undefined) => {
        await sleep(1_500, ctx.signal); // a slow page: plenty of time to look at it, or cancel it
        const page = (cursor ?? 0) + 1;
        ctx.data.pages = page;
        return page < 500 ? { more: page } : { done: "store" };
      },
    }, { next: ["store"] })
    .register("store", () => "done", { next: ["done"] })
    .addExitState("done")
    .withCheckpointStore(store);
}

function expenseWorkflow(store: KvCheckpointStore) {
  type Step = "submit" | "await_manager" | "pay" | "reject" | "expire" | "done";
  return new Workflow<Step, { amount: number; by?: string }>({ name: "expense" })
    .register("submit", () => "await_manager", { next: ["await_manager"] })
    .registerWait("await_manager", {
      events: { approved: "pay", rejected: "reject" },
      timeout: { after: 48 * 3_600_000, next: "expire" },
    })
    .register("pay", () => "done", { next: ["done"] })
    .register("reject", () => "done", { next: ["done"] })
    .register("expire", () => "done", { next: ["done"] })
    .addExitState("done")
    .withCheckpointStore(store);
}

/**
 * Starts the demo: the runs, the scheduler, recovery and the console.
 *
 * @param options Where the console listens, and the KV file (`:memory:` by default).
 * @returns What it started.
 */
export async function startDemo(
  options: { port?: number; kv?: string; token?: string } = {},
): Promise<Demo> {
  provider.up = false;
  const kv = await Deno.openKv(options.kv ?? ":memory:");
  const store = new KvCheckpointStore(kv, { leaseMs: 5_000 });
  for (const id of Object.values(DEMO_IDS)) await store.clear(id); // a fresh start, also on a file
  const orders = orderWorkflow(store);
  const trips = tripWorkflow(store);
  const imports = importWorkflow(store);
  const expenses = expenseWorkflow(store);
  const workflows = [orders, trips, imports, expenses];

  // The scheduler: a manual report, an interval sync, and an export that keeps failing.
  const report = new Workflow<"render" | "sent">()
    .register("render", () => "sent")
    .addExitState("sent");
  const flaky = new Workflow<"export" | "done">()
    .register("export", () => {
      throw new Error("S3 bucket is read-only");
    }, { config: TaskConfig.minimal() })
    .addExitState("done");
  const scheduler = await new Scheduler()
    .manual("nightly-report", report, "render")
    .every("sync", report, "render", 5_000)
    .every("s3-export", flaky, "export", 2_000, { backoff: { initial: 1_000, streakLimit: 3 } })
    .start();

  // The console first, so that it sees the rows of the runs below being written.
  const server = serveAdmin({
    store,
    workflows,
    scheduler,
    breakers: { payments },
    limiters: { api },
    port: options.port ?? 8787,
    ...(options.token === undefined ? {} : { token: options.token }),
  });

  // A completed order (it leaves nothing behind), and one that fails at charge.
  await orders.orchestrate("validate", { id: "order-1001", data: { order: 1001, amount: 0 } });
  await orders.orchestrate("validate", { id: DEMO_IDS.failed, data: { order: 1002, amount: 42 } })
    .catch(() => {});
  provider.up = true; // back again: a retry from the console now succeeds
  // A trip whose payment failed and whose rollback could not cancel the hotel.
  await trips.orchestrate("hotel", { id: DEMO_IDS.brokenSaga, data: { trip: "Lisbon" } })
    .catch(() => {});
  // An expense parked for a manager; recovery continues it once an event arrives.
  await expenses.orchestrate("submit", {
    id: DEMO_IDS.waiting,
    data: { amount: 129 },
    onWait: "return",
  });
  const recovery: Recovery = startRecovery({ store, workflows, every: 1_000 });
  // An import that runs until it is cancelled.
  const cancelImport = new AbortController();
  const running = imports.orchestrate("fetch", {
    id: DEMO_IDS.running,
    data: { source: "s3://exports/2024-06" },
    signal: cancelImport.signal,
  }).catch(() => {});

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    stopped ??= (async () => {
      cancelImport.abort(new Error("the demo is stopping"));
      await running;
      await server.shutdown();
      await recovery.stop();
      await scheduler.stop();
      kv.close();
    })();
  return { server, store, scheduler, expenses, stop };
}

if (import.meta.main) {
  const flag = (name: string): string | undefined => {
    const index = Deno.args.indexOf(name);
    return index === -1 ? undefined : Deno.args[index + 1];
  };
  const seconds = Number(flag("--seconds") ?? 0);
  const port = Number(flag("--port") ?? 8787);
  if (!(seconds >= 0) || !Number.isInteger(port)) {
    console.error("usage: deno run examples/admin.ts [--seconds N] [--port N] [--kv FILE]");
    Deno.exit(2);
  }
  const kvFile = flag("--kv");
  const demo = await startDemo({ port, ...(kvFile === undefined ? {} : { kv: kvFile }) });
  console.log(`admin console on ${demo.server.url}`);
  const runs = await demo.store.listRuns();
  for (const run of runs.runs) {
    console.log(`  ${run.id.padEnd(16)} ${run.workflow.padEnd(8)} ${run.status} in ${run.state}`);
  }
  const done = Promise.withResolvers<void>();
  const onSigint = (): void => done.resolve();
  Deno.addSignalListener("SIGINT", onSigint);
  const timer = seconds > 0 ? setTimeout(done.resolve, seconds * 1_000) : undefined;
  console.log(seconds > 0 ? `stopping in ${seconds} s` : "Ctrl-C stops it");
  await done.promise;
  clearTimeout(timer);
  Deno.removeSignalListener("SIGINT", onSigint);
  await demo.stop();
  console.log("stopped");
}
