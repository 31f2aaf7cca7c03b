// When flows run: interval flows (immediate first run, fixed delay after each run), cron flows
// (ticks skipped during a run, time zones across daylight-saving changes), overlap prevention,
// long sleeps, and one timer for many flows.

import assert from "node:assert/strict";
import { TaskConfig, Workflow } from "../mod.ts";
import { Scheduler } from "../scheduler.ts";
import { FakeTime } from "../testing.ts";
import {
  flakyWorkflow,
  okWorkflow,
  recordEvents,
  slowWorkflow,
  startTimes,
  type Step,
} from "./_scheduler_helpers.ts";

const T0 = Date.UTC(2026, 0, 1);

Deno.test("Scheduler.every(): first run at once, then a fixed delay after each run", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const { workflow } = slowWorkflow(100);
  await using running = await new Scheduler().every("sync", workflow, "start", 1_000).start();
  const events = recordEvents(running, T0);
  await time.tickAsync(3_000);
  // Each run takes 100 ms; the next starts 1 000 ms after the previous one ended.
  assert.deepEqual(startTimes(events), [0, 1_100, 2_200]);
  assert.equal(running.status("sync")?.nextRun?.getTime(), T0 + 3_300);
});

Deno.test("Scheduler.every() with an initialDelay waits before the first run", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  await using running = await new Scheduler()
    .every("later", okWorkflow().workflow, "start", 1_000, { initialDelay: 1_000 })
    .every("staggered", okWorkflow().workflow, "start", 1_000, { initialDelay: 250 })
    .start();
  const events = recordEvents(running, T0);
  await time.tickAsync(2_500);
  assert.deepEqual(startTimes(events, "later"), [1_000, 2_000]);
  assert.deepEqual(startTimes(events, "staggered"), [250, 1_250, 2_250]);
});

Deno.test("Scheduler.every(): a tick is skipped while a manual run is in flight", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const { workflow } = slowWorkflow(500);
  await using running = await new Scheduler().every("sync", workflow, "start", 1_000).start();
  const events = recordEvents(running, T0);
  await time.tickAsync(1_200);
  await running.trigger("sync"); // runs 1 200 → 1 700, over the 1 500 tick
  await time.tickAsync(2_000);
  assert.deepEqual(
    events.filter((e) => e.type === "flowstart").map((e) => `${e.t} ${e.detail}`),
    ["0 interval", "1200 trigger", "2700 interval"],
  );
  assert.equal(running.status("sync")?.runCount, 3);
});

Deno.test("Scheduler.every(): an interval longer than setTimeout's limit is slept in chunks", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const thirtyDays = 30 * 86_400_000; // > 2^31 − 1 ms, which setTimeout would fire at once
  const { workflow, runs } = okWorkflow();
  await using running = await new Scheduler().every("monthly", workflow, "start", thirtyDays)
    .start();
  await time.tickAsync(10 * 86_400_000);
  assert.equal(runs(), 1);
  assert.ok(time.countTimers() <= 1);
  await time.tickAsync(20 * 86_400_000);
  assert.equal(runs(), 2);
  assert.equal(running.status("monthly")?.lastRun?.getTime(), T0 + thirtyDays);
});

Deno.test("Scheduler.cron(): ticks that pass during a run are skipped, not queued", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const { workflow } = slowWorkflow(2_500);
  await using running = await new Scheduler().cron("busy", workflow, "start", "* * * * * *")
    .start();
  const events = recordEvents(running, T0);
  await time.tickAsync(7_500);
  assert.deepEqual(startTimes(events), [1_000, 4_000, 7_000]);
});

Deno.test("Scheduler.cron(): a tick during a manual run is skipped", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const { workflow } = slowWorkflow(1_500);
  await using running = await new Scheduler().cron("five", workflow, "start", "*/5 * * * * *")
    .start();
  const events = recordEvents(running, T0);
  await time.tickAsync(9_000);
  await running.trigger("five"); // 9 000 → 10 500, over the 10 000 tick
  await time.tickAsync(7_000);
  assert.deepEqual(
    events.filter((e) => e.type === "flowstart").map((e) => `${e.t} ${e.detail}`),
    ["5000 cron", "9000 trigger", "15000 cron"],
  );
});

Deno.test("Scheduler.cron(): a tripped flow never dispatches until reset", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  await using running = await new Scheduler()
    .cron("flow", flakyWorkflow().workflow, "start", "* * * * * *", {
      backoff: { initial: 100, jitter: 0, streakLimit: 2 },
    })
    .start();
  const events = recordEvents(running, T0);
  await time.tickAsync(10_000);
  assert.deepEqual(startTimes(events), [1_000, 2_000]);
  assert.equal(running.status("flow")?.status, "tripped");
  assert.equal(time.countTimers(), 0, "no tick is even armed");
  await running.resetFlow("flow");
  await time.tickAsync(1_000);
  assert.deepEqual(startTimes(events), [1_000, 2_000, 11_000]);
});

Deno.test("Scheduler.cron(): a daily job in Europe/Berlin across the spring-forward change", async () => {
  using time = new FakeTime(Date.UTC(2026, 2, 27, 12)); // Friday; DST starts Sunday 29 March 02:00
  await using running = await new Scheduler()
    .cron("nightly", okWorkflow().workflow, "start", "30 2 * * *", { timezone: "Europe/Berlin" })
    .start();
  const runs: string[] = [];
  running.addEventListener("flowstart", () => runs.push(new Date(Date.now()).toISOString()));
  await time.tickAsync(4 * 86_400_000);
  assert.deepEqual(runs, [
    "2026-03-28T01:30:00.000Z", // 02:30 CET
    "2026-03-29T01:00:00.000Z", // 02:30 does not exist: right after the gap, 03:00 CEST
    "2026-03-30T00:30:00.000Z", // 02:30 CEST
    "2026-03-31T00:30:00.000Z",
  ]);
});

Deno.test("Scheduler.cron(): Europe/Berlin across the fall-back change", async () => {
  using time = new FakeTime(Date.UTC(2026, 9, 24, 12)); // DST ends Sunday 25 October 03:00 → 02:00
  await using running = await new Scheduler()
    .cron("fixed", okWorkflow().workflow, "start", "30 2 * * *", { timezone: "Europe/Berlin" })
    .cron("half-hourly", okWorkflow().workflow, "start", "0 */30 1-3 * * *", {
      timezone: "Europe/Berlin",
    })
    .start();
  const runs: Record<string, string[]> = { fixed: [], "half-hourly": [] };
  running.addEventListener("flowstart", (e) => {
    runs[e.id]!.push(new Date(Date.now()).toISOString().slice(0, 16));
  });
  await time.tickAsync(2 * 86_400_000);
  // The repeated 02:30 runs once for a fixed-time job ...
  assert.deepEqual(runs.fixed, ["2026-10-25T00:30", "2026-10-26T01:30"]);
  // ... and on both occurrences for an interval job.
  assert.deepEqual(runs["half-hourly"]!.filter((t) => t.startsWith("2026-10-25")), [
    "2026-10-25T00:00", // 02:00 CEST
    "2026-10-25T00:30", // 02:30 CEST
    "2026-10-25T01:00", // 02:00 CET
    "2026-10-25T01:30", // 02:30 CET
    "2026-10-25T02:00", // 03:00 CET
    "2026-10-25T02:30", // 03:30 CET
  ]);
});

Deno.test("Scheduler: 10 000 flows share a single timer", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  let runs = 0;
  const workflow = new Workflow<Step>()
    .register("start", () => (runs++, "complete"), { config: TaskConfig.minimal() })
    .addExitState("complete");
  const scheduler = new Scheduler();
  for (let i = 0; i < 10_000; i++) scheduler.every(`flow-${i}`, workflow, "start", 1_000);
  const running = await scheduler.start();
  assert.equal(time.countTimers(), 1);
  await time.tickAsync(0);
  assert.equal(runs, 10_000);
  assert.equal(time.countTimers(), 1);
  await time.tickAsync(3_000);
  assert.equal(runs, 40_000);
  assert.equal(time.countTimers(), 1);
  await running.stop();
  assert.equal(time.countTimers(), 0);
});
