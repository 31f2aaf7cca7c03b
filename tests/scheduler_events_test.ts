// RunningScheduler events: flowstatus on every status change, flowstart / flowend around every
// run, in a fixed order, and listeners that cannot hurt the scheduler.

import assert from "node:assert/strict";
import { type ListenerErrorEvent, StateContextError } from "../mod.ts";
import { FlowEndEvent, FlowStartEvent, FlowStatusEvent, Scheduler } from "../scheduler.ts";
import { FakeTime } from "../testing.ts";
import { flakyWorkflow, okWorkflow, recordEvents, slowWorkflow } from "./_scheduler_helpers.ts";

const T0 = Date.UTC(2026, 0, 1);

Deno.test("RunningScheduler events: a completed run, in order", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const { workflow } = slowWorkflow(40);
  await using running = await new Scheduler().every("sync", workflow, "start", 1_000).start();
  const events = recordEvents(running, T0);
  const ends: FlowEndEvent[] = [];
  running.addEventListener("flowend", (e) => ends.push(e));
  await time.tickAsync(100);
  assert.deepEqual(events.map((e) => `${e.t} ${e.type} ${e.detail}`), [
    "0 flowstatus idle→running",
    "0 flowstart interval",
    "40 flowend completed",
    "40 flowstatus running→completed",
  ]);
  assert.equal(ends[0]?.state, "complete");
  assert.equal(ends[0]?.duration, 40);
  assert.equal(ends[0]?.error, undefined);
});

Deno.test("RunningScheduler events: failures, the trip and the reset", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  await using running = await new Scheduler()
    .manual("job", flakyWorkflow().workflow, "start", {
      backoff: { initial: 10, jitter: 0, streakLimit: 2 },
    })
    .start();
  const events = recordEvents(running, T0);
  const statuses: FlowStatusEvent[] = [];
  const ends: FlowEndEvent[] = [];
  running.addEventListener("flowstatus", (e) => statuses.push(e));
  running.addEventListener("flowend", (e) => ends.push(e));
  await running.trigger("job");
  await time.tickAsync(1);
  await running.trigger("job");
  await time.tickAsync(1);
  await running.resetFlow("job");
  await running.resetFlow("job"); // idle → idle: no event
  assert.deepEqual(events.map((e) => `${e.type} ${e.detail}`), [
    "flowstatus idle→running",
    "flowstart trigger",
    "flowend failed",
    "flowstatus running→backoff",
    "flowstatus backoff→running",
    "flowstart trigger",
    "flowend failed",
    "flowstatus running→tripped",
    "flowstatus tripped→idle",
  ]);
  assert.ok(ends[0]?.error instanceof StateContextError);
  assert.equal(ends[0]?.state, undefined);
  const backoff = statuses[1]!;
  assert.equal(backoff.info.failureStreak, 1);
  assert.equal(backoff.info.nextEligible?.getTime(), T0 + 10);
  assert.equal(statuses[3]?.info.status, "tripped");
  assert.equal(statuses[3]?.info.failureStreak, 2);
});

Deno.test("RunningScheduler events: the flow's status is already updated when flowend fires", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  await using running = await new Scheduler().manual("job", okWorkflow().workflow, "start").start();
  const seen: string[] = [];
  running.addEventListener("flowstart", (e) => seen.push(`start ${running.status(e.id)?.status}`));
  running.addEventListener("flowend", (e) => seen.push(`end ${running.status(e.id)?.status}`));
  await running.trigger("job");
  await time.tickAsync(1);
  assert.deepEqual(seen, ["start running", "end completed"]);
});

Deno.test("RunningScheduler events: a listener may trigger the next run from flowend", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const { workflow, runs } = okWorkflow();
  await using running = await new Scheduler().manual("job", workflow, "start").start();
  running.addEventListener("flowend", (e) => {
    if (runs() < 3) running.trigger(e.id);
  });
  await running.trigger("job");
  await time.tickAsync(1);
  assert.equal(runs(), 3);
  assert.equal(running.status("job")?.runCount, 3);
});

Deno.test("RunningScheduler events: a throwing listener is reported and the flow carries on", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const { workflow, runs } = okWorkflow();
  await using running = await new Scheduler().every("tick", workflow, "start", 100).start();
  const reported: ListenerErrorEvent[] = [];
  running.addEventListener("listenererror", (e) => reported.push(e));
  running.addEventListener("flowstart", () => {
    throw new Error("bad listener");
  });
  running.addEventListener("flowstatus", () => Promise.reject(new Error("bad async listener")));
  const originalError = console.error;
  console.error = () => {};
  try {
    await time.tickAsync(250);
  } finally {
    console.error = originalError;
  }
  assert.equal(runs(), 3);
  assert.equal(running.status("tick")?.status, "completed");
  assert.ok(reported.some((e) => e.eventType === "flowstart"));
  assert.ok(reported.some((e) => e.eventType === "flowstatus"));
});

Deno.test("RunningScheduler events: the event classes carry plain fields", () => {
  const start = new FlowStartEvent("sync", "cron", 7);
  assert.equal(start.type, "flowstart");
  assert.equal(start.runCount, 7);
  const end = new FlowEndEvent("sync", { outcome: "completed", duration: 5, state: "done" });
  assert.equal(end.type, "flowend");
  assert.equal(end.state, "done");
  const status = new FlowStatusEvent({
    id: "sync",
    status: "backoff",
    schedule: { kind: "manual" },
    runCount: 1,
    failureStreak: 1,
  }, "running");
  assert.equal(status.type, "flowstatus");
  assert.equal(status.previous, "running");
  assert.equal(status.status, "backoff");
});

Deno.test("RunningScheduler events: flowstart tells when a scheduled run was due", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const { workflow } = slowWorkflow(100);
  await using running = await new Scheduler()
    .every("sync", workflow, "start", 1_000)
    .cron("tick", okWorkflow().workflow, "start", "*/2 * * * * *")
    .start();
  const starts: string[] = [];
  running.addEventListener("flowstart", (e) => {
    const due = e.scheduledAt === undefined ? "-" : String(e.scheduledAt.getTime() - T0);
    starts.push(`${e.id} ${e.source} due=${due} at=${Date.now() - T0}`);
  });
  await time.tickAsync(1_000);
  await running.trigger("sync");
  await time.tickAsync(2_000);
  assert.deepEqual(starts, [
    "sync interval due=0 at=0",
    "sync trigger due=- at=1000",
    "tick cron due=2000 at=2000",
    "sync interval due=2100 at=2100",
  ]);
});
