/**
 * Scheduler: an interval flow, a cron flow and a manual flow sharing one database resource (set
 * up once at start, torn down once at stop), with live status lines and a graceful stop on
 * Ctrl-C. It stops by itself after `--seconds N` (default 5; `--seconds 0` runs until Ctrl-C).
 * Run it with `deno task example:scheduler` (3 s), or `deno run examples/scheduler.ts --seconds 0` and
 * Ctrl-C.
 *
 * @module
 */
import { Resources, TaskConfig, Workflow } from "../mod.ts";
import { type FlowInfo, Scheduler } from "../scheduler.ts";

/** A stand-in for a database client: connected once for the scheduler's lifetime. */
class FakeDb {
  connected = false;
  rows = 0;
  setup(): void {
    this.connected = true;
    console.log("db: connected (once, at start)");
  }
  teardown(): void {
    this.connected = false;
    console.log(`db: disconnected (once, at stop) after ${this.rows} rows`);
  }
  insert(): number {
    if (!this.connected) throw new Error("db is not connected");
    return ++this.rows;
  }
}

const flag = Deno.args.indexOf("--seconds");
const seconds = flag === -1 ? 5 : Number(Deno.args[flag + 1]);
if (!(seconds >= 0)) {
  console.error("usage: deno run examples/scheduler.ts [--seconds N]");
  Deno.exit(2);
}

const db = new FakeDb();
const resources = new Resources({ db });
const started = Date.now();
const at = (): string => `+${((Date.now() - started) / 1000).toFixed(1)}s`;

type SyncStep = "pull" | "store" | "done";
const sync = new Workflow<SyncStep, { fetched?: number }, { db: FakeDb }>({ resources })
  .register("pull", (ctx) => {
    ctx.data.fetched = 3;
    return "store";
  }, { config: TaskConfig.minimal() })
  .register("store", (ctx) => {
    const row = ctx.resources.get("db").insert();
    console.log(`${at()} sync: stored ${ctx.data.fetched} items as row ${row}`);
    return "done";
  }, { config: TaskConfig.minimal() })
  .addExitState("done");

type ReportStep = "render" | "sent";
const report = new Workflow<ReportStep, Record<string, unknown>, { db: FakeDb }>({ resources })
  .register("render", (ctx) => {
    console.log(`${at()} report: ${ctx.resources.get("db").rows} rows so far`);
    return "sent";
  }, { config: TaskConfig.minimal() })
  .addExitState("sent");

const scheduler = new Scheduler()
  .every("sync", sync, "pull", 1_000)
  .cron("report", report, "render", "*/2 * * * * *", { timezone: "Europe/Berlin" })
  .manual("adhoc-report", report, "render");

const controller = new AbortController();
const onSigint = (): void => {
  console.log("\nCtrl-C: stopping gracefully…");
  controller.abort();
};
Deno.addSignalListener("SIGINT", onSigint);
const timer = seconds > 0 ? setTimeout(() => controller.abort(), seconds * 1_000) : undefined;

const running = await scheduler.start({ signal: controller.signal });
running.addEventListener("flowstatus", (e) => {
  if (e.status !== "running") console.log(`${at()} ${e.id}: ${e.previous} → ${e.status}`);
});
running.addEventListener("flowend", (e) => {
  // After the second sync, ask for an ad-hoc report.
  if (e.id === "sync" && running.status("sync")?.runCount === 2) {
    running.trigger("adhoc-report").catch((error) => console.error(error.message));
  }
  // After every scheduled report, print the status of every flow.
  if (e.id === "report") printStatus();
});

await running.wait();
clearTimeout(timer);
Deno.removeSignalListener("SIGINT", onSigint);
console.log("stopped");
printStatus();

function printStatus(): void {
  console.log("  flow          status     runs  last run  next run");
  for (const flow of running.list()) console.log(`  ${row(flow)}`);
}

function row(flow: FlowInfo): string {
  const time = (date: Date | undefined): string =>
    date === undefined ? "-" : `+${((date.getTime() - started) / 1000).toFixed(1)}s`;
  return `${flow.id.padEnd(13)} ${flow.status.padEnd(10)} ${String(flow.runCount).padStart(4)}  ${
    time(flow.lastRun).padEnd(8)
  }  ${time(flow.nextRun)}`;
}
