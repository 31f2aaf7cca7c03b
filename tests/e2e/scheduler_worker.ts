// One instance of a coordinated scheduler on a Deno KV file, run as a separate process by
// scheduler_coordination_e2e_test.ts (four of them at once on one file).
//
// Usage: scheduler_worker.ts '<json WorkerConfig>'
//
// Flows (the same in every instance):
// - `fast`: every 100 ms; each run records its tick as a side effect;
// - `second`: cron `* * * * * *`, a checkpointed workflow (each run under `second@<tick ISO>`);
//   each run records its run id as a side effect;
// - `trip`: every 100 ms; succeeds until `tripAfter`, then fails; trips after two failures.
//
// Side effects are KV keys `["e2e", "side", flow, tick or run id]`, created if absent; a second
// write of the same key adds `["e2e", "dup", flow, tick or run id, pid]` instead, so duplicates
// are counted, not hidden. Stdout has one JSON object per line: `ready`, `fire` (a run started
// here), `skip` (a tick this instance left), `error` (a store failure), `status` (the flows at
// the end) and `done`. The worker stops at `stopAt` and exits 0; 2 on bad usage, 3 when its
// safety timeout elapses.

import { KvCheckpointStore } from "../../kv.ts";
import { TaskConfig, Workflow } from "../../mod.ts";
import { Scheduler } from "../../scheduler.ts";
import { exitAfter, openKvRetrying, workerConfig } from "../_subprocess.ts";

/** What one worker does. */
export interface SchedulerWorkerConfig {
  /** Its instance id. */
  role: string;
  kvPath: string;
  /** When to stop (epoch ms). */
  stopAt: number;
  /** When the `trip` flow starts failing (epoch ms). */
  tripAfter: number;
  /** The scheduler's pollInterval. */
  pollInterval: number;
}

const config = workerConfig<SchedulerWorkerConfig>(
  "scheduler_worker.ts '<json SchedulerWorkerConfig>'",
);
// The safety net: well after the planned stop.
exitAfter(Math.max(0, config.stopAt - Date.now()) + 30_000, JSON.stringify({ type: "timeout" }));

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const locked = (error: unknown): boolean => String(error).includes("database is locked");
const emit = (line: Record<string, unknown>): void => console.log(JSON.stringify(line));

const kv = await openKvRetrying(config.kvPath, 50, () => 5 + Math.random() * 20);

/** Records a side effect once; a second one for the same key is recorded as a duplicate. */
async function sideEffect(flow: string, key: string): Promise<void> {
  for (let attempt = 1;; attempt++) {
    try {
      const ok = await kv.atomic()
        .check({ key: ["e2e", "side", flow, key], versionstamp: null })
        .set(["e2e", "side", flow, key], config.role)
        .commit();
      if (!ok.ok) await kv.set(["e2e", "dup", flow, key, Deno.pid], config.role);
      return;
    } catch (error) {
      if (attempt >= 50 || !locked(error)) throw error;
      await sleep(2 + Math.random() * 10);
    }
  }
}

const store = new KvCheckpointStore(kv, { retry: { attempts: 30, baseDelay: 5 } });
type Step = "go" | "done";
/** The tick of the `fast` run being started (set by its flowstart event, read by its data). */
let fastTick = "";
const fast = new Workflow<Step, { tick: string }>()
  .register("go", async (ctx) => {
    await sideEffect("fast", ctx.data.tick);
    return "done";
  }, { config: TaskConfig.minimal() })
  .addExitState("done");
const second = new Workflow<Step>({ name: "second" })
  .register("go", async (ctx) => {
    await sideEffect("second", ctx.workflowId ?? "?");
    return "done";
  }, { config: TaskConfig.minimal() })
  .addExitState("done")
  .withCheckpointStore(store);
let tripTick = "";
const trip = new Workflow<Step, { tick: string }>()
  .register("go", async (ctx) => {
    if (Date.now() < config.tripAfter) return "done";
    await sideEffect("trip", ctx.data.tick);
    throw new Error("dependency is down");
  }, { config: TaskConfig.minimal() })
  .addExitState("done");

const running = await new Scheduler()
  .every("fast", fast, "go", 100, { data: () => ({ tick: fastTick }) })
  .cron("second", second, "go", "* * * * * *")
  .every("trip", trip, "go", 100, {
    data: () => ({ tick: tripTick }),
    backoff: { initial: 0, jitter: 0, streakLimit: 2 },
  })
  .start({ coordination: store, instanceId: config.role, pollInterval: config.pollInterval });

running.addEventListener("flowstart", (e) => {
  const tick = e.scheduledAt?.toISOString() ?? "";
  if (e.id === "fast") fastTick = tick;
  if (e.id === "trip") tripTick = tick;
  emit({ type: "fire", flow: e.id, tick, at: Date.now() });
});
running.addEventListener("flowskip", (e) => {
  if (e.reason !== "claimed") {
    emit({ type: "skip", flow: e.id, tick: e.scheduledAt.toISOString(), reason: e.reason });
  }
});
running.addEventListener("flowerror", (e) => {
  emit({ type: "error", flow: e.id, operation: e.operation, message: e.error.message });
});
emit({ type: "ready", pid: Deno.pid, at: Date.now() });

try {
  await sleep(Math.max(0, config.stopAt - Date.now()));
  await running.stop();
  emit({ type: "status", flows: running.list() });
} finally {
  kv.close();
}
emit({ type: "done" });
Deno.exit(0);
