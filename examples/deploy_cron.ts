/**
 * Deno Deploy: a scheduler's flows as `Deno.cron` jobs, their ticks claimed and their state
 * shared in Deno KV, so that however many isolates Deploy invokes for a tick, it runs once. The
 * same file runs unchanged on Deploy (deploy it as the entrypoint) and locally:
 *
 *     deno run --unstable-cron --unstable-kv examples/deploy_cron.ts
 *
 * (`deno task example:deploy_cron`). Locally it keeps running: the `heartbeat` flow ticks every
 * minute, on the minute. With `--check` it registers the jobs, prints them and exits at once
 * (an in-memory KV; no tick waited for).
 *
 * @module
 */
import { KvCheckpointStore } from "../kv.ts";
import { Resources, TaskConfig, Workflow } from "../mod.ts";
import { registerDenoCron, Scheduler } from "../scheduler.ts";

const check = Deno.args.includes("--check");

// On Deploy: the project's KV database. Locally: a file of Deno's (or `:memory:` with --check).
const kv = await Deno.openKv(check ? ":memory:" : undefined);
const store = new KvCheckpointStore(kv);

/** A stand-in for an HTTP client: set up before each tick and torn down after it. */
const api = {
  setup: () => console.log("api: connected"),
  teardown: () => console.log("api: disconnected"),
};
const resources = new Resources({ api });

type Step = "fetch" | "done";
const report = new Workflow<Step, Record<string, unknown>, { api: typeof api }>({
  name: "nightly-report",
  resources,
})
  .register("fetch", (ctx) => {
    // Checkpointed: each tick runs under its own id, e.g. nightly-report@2026-01-02T03:00:00.000Z.
    console.log(`report: building ${ctx.workflowId}`);
    return "done";
  }, { config: TaskConfig.minimal() })
  .addExitState("done")
  .withCheckpointStore(store);

const ping = new Workflow<Step, Record<string, unknown>, { api: typeof api }>({ resources })
  .register("fetch", () => {
    console.log(`heartbeat: ok at ${new Date().toISOString()}`);
    return "done";
  }, { config: TaskConfig.minimal() })
  .addExitState("done");

const scheduler = new Scheduler()
  .cron("nightly-report", report, "fetch", "0 0 3 * * *") // seconds "0": Deno.cron-compatible
  .every("sync", ping, "fetch", 5 * 60_000, { backoff: { streakLimit: 5 } })
  .every("heartbeat", ping, "fetch", 60_000)
  .manual("adhoc", ping, "fetch"); // not a cron job: trigger it from a RunningScheduler

const controller = new AbortController();
const registered = registerDenoCron(scheduler, {
  store,
  signal: controller.signal, // only used by --check; Deploy never unregisters
  onTick: (tick) =>
    console.log(
      `${tick.id} ${tick.scheduledAt.toISOString()}: ${tick.outcome}${
        tick.reason ? ` (${tick.reason})` : ""
      }`,
    ),
});
for (const { id, schedule } of registered) console.log(`registered ${id}: ${schedule}`);
console.log("not registered: adhoc (manual)");

if (check) {
  controller.abort();
  kv.close();
  console.log("check: ok");
}
