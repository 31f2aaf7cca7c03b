// RunningScheduler.cancelFlow and the scheduler's handling of cancelled, timed-out and rolled-back
// runs: a cancelled run is not a failure; a dirty rollback or a total timeout is.

import assert from "node:assert/strict";
import { StateContextError, TaskConfig, Workflow } from "../mod.ts";
import { Scheduler } from "../scheduler.ts";
import { FakeTime } from "../testing.ts";
import {
  recordEvents,
  sagaWorkflow,
  sleep,
  slowWorkflow,
  startTimes,
  type Step,
} from "./_scheduler_helpers.ts";

const T0 = Date.UTC(2026, 0, 1);

Deno.test("RunningScheduler.cancelFlow() returns the flow to idle without counting a failure", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  let attempt = 0;
  const workflow = new Workflow<Step>()
    .register("start", async ({ signal }) => {
      if (++attempt === 1) throw new Error("first run fails");
      await sleep(10_000, signal);
      return "complete";
    }, { config: TaskConfig.minimal() })
    .addExitState("complete");
  await using running = await new Scheduler()
    .manual("job", workflow, "start", { backoff: { initial: 5_000, jitter: 0 } })
    .start();
  const ended: unknown[] = [];
  running.addEventListener("flowend", (e) => ended.push(e.outcome === "cancelled" && e.error));
  await running.trigger("job");
  await time.tickAsync(10);
  const failed = running.status("job")!;
  assert.equal(failed.status, "backoff");
  await running.trigger("job"); // bypasses the window
  await time.tickAsync(10);
  assert.equal(running.status("job")?.status, "running");
  await running.cancelFlow("job");
  const after = running.status("job")!;
  assert.equal(after.status, "idle");
  assert.equal(after.runCount, 2);
  assert.equal(after.failureStreak, 1, "the streak is untouched");
  assert.deepEqual(after.nextEligible, failed.nextEligible, "so is the window");
  assert.equal(after.lastError, failed.lastError);
  assert.equal(time.now, T0 + 20, "cancelFlow() needs no clock time");
  const error = ended[1];
  assert.ok(error instanceof StateContextError);
  assert.equal(error.category, "cancelled");
  const reason = (error.cause as Error).cause as Error; // StateContextError → CancelledError → reason
  assert.equal(reason.message, 'Flow "job" was cancelled by cancelFlow()');
});

Deno.test("RunningScheduler.cancelFlow() of an idle flow does nothing", async () => {
  await using running = await new Scheduler().manual("job", slowWorkflow(10).workflow, "start")
    .start();
  await running.cancelFlow("job");
  assert.equal(running.status("job")?.status, "idle");
  assert.equal(running.status("job")?.runCount, 0);
});

Deno.test("RunningScheduler.cancelFlow(): an interval flow keeps its schedule from the cancel", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const { workflow, completions } = slowWorkflow(10_000);
  await using running = await new Scheduler().every("job", workflow, "start", 1_000).start();
  const events = recordEvents(running, T0);
  await time.tickAsync(100);
  await running.cancelFlow("job");
  assert.equal(running.status("job")?.nextRun?.getTime(), T0 + 1_100);
  await time.tickAsync(1_000);
  assert.deepEqual(startTimes(events), [0, 1_100]);
  assert.equal(completions(), 0);
});

Deno.test("RunningScheduler.cancelFlow() rolls a saga back; a clean rollback is not a failure", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const log: string[] = [];
  await using running = await new Scheduler().manual("saga", sagaWorkflow(100, log), "start")
    .start();
  await running.trigger("saga");
  await time.tickAsync(10);
  const cancelling = running.cancelFlow("saga");
  await time.tickAsync(100); // the compensatable step is never interrupted
  await cancelling;
  assert.deepEqual(log, ["reserve", "reserved", "release"]);
  assert.equal(running.status("saga")?.status, "idle");
  assert.equal(running.status("saga")?.failureStreak, 0);
});

Deno.test("RunningScheduler.cancelFlow(): a dirty rollback is a failure and backs off", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const log: string[] = [];
  await using running = await new Scheduler()
    .manual("saga", sagaWorkflow(100, log, { compensateFails: true }), "start", {
      backoff: { initial: 1_000, jitter: 0 },
    })
    .start();
  await running.trigger("saga");
  await time.tickAsync(10);
  const cancelling = running.cancelFlow("saga");
  await time.tickAsync(100);
  await cancelling;
  const flow = running.status("saga")!;
  assert.equal(flow.status, "backoff");
  assert.equal(flow.failureStreak, 1);
  assert.match(flow.lastError ?? "", /^Compensation failed/);
  assert.equal(flow.nextEligible?.getTime(), T0 + 100 + 1_000, "the run ended at 100 ms");
});

Deno.test("RunningScheduler: a run over the workflow's total timeout is a failure", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const { workflow } = slowWorkflow(5_000);
  workflow.withTotalTimeout(1_000);
  await using running = await new Scheduler()
    .every("slow", workflow, "start", 60_000, { backoff: { initial: 2_000, jitter: 0 } })
    .start();
  await time.tickAsync(1_000);
  const flow = running.status("slow")!;
  assert.equal(flow.status, "backoff");
  assert.match(flow.lastError ?? "", /total timeout of 1000 ms/);
  assert.equal(flow.nextRun?.getTime(), T0 + 61_000, "the interval outlasts the window");
});

Deno.test("RunningScheduler.cancelFlow() does not wait for a task that ignores its signal", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  let finished = false;
  const workflow = new Workflow<Step>()
    .register("start", async () => {
      await sleep(10_000);
      finished = true;
      return "complete";
    }, { config: TaskConfig.minimal() })
    .addExitState("complete");
  await using running = await new Scheduler().manual("stubborn", workflow, "start").start();
  await running.trigger("stubborn");
  await time.tickAsync(10);
  await running.cancelFlow("stubborn");
  assert.equal(running.status("stubborn")?.status, "idle");
  assert.equal(finished, false);
  await running.trigger("stubborn"); // the flow is free again
  await time.tickAsync(10_000); // let both stubborn tasks finish so no timer leaks
  assert.equal(finished, true);
});
