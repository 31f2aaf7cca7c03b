// The test suite of cano's RunningScheduler (seeds/cano-scheduler-running.rs.txt), ported one
// test at a time and made deterministic with a fake clock: every expectation is an exact time or
// count instead of a real-time budget.

import assert from "node:assert/strict";
import { CanoError, ConfigurationError, TaskConfig, Workflow } from "../mod.ts";
import { Scheduler } from "../scheduler.ts";
import { FakeTime } from "../testing.ts";
import {
  flakyWorkflow,
  info,
  okWorkflow,
  recordEvents,
  resourcefulWorkflow,
  sagaWorkflow,
  slowWorkflow,
  startTimes,
  type Step,
} from "./_scheduler_helpers.ts";

const T0 = Date.UTC(2026, 0, 1);

// --- start validation ------------------------------------------------------------------------

Deno.test("Scheduler.start() rejects a misconfigured workflow before setting anything up", async () => {
  const log: string[] = [];
  const good = resourcefulWorkflow("good", log);
  const bad = new Workflow<Step>().register("start", () => "complete"); // no exit state
  const scheduler = new Scheduler()
    .every("good", good, "start", 60_000)
    .every("bad", bad, "start", 60_000);
  await assert.rejects(scheduler.start(), (error: unknown) => {
    assert.ok(error instanceof ConfigurationError);
    assert.match(error.message, /Flow "bad" cannot start: Workflow has no exit states/);
    return true;
  });
  assert.deepEqual(log, [], "no resource was set up");
});

Deno.test("Scheduler.start() rejects an initial state that is neither registered nor an exit", async () => {
  const { workflow } = okWorkflow();
  const bare = new Workflow<Step>().register("start", () => "complete").addExitState("complete");
  const scheduler = new Scheduler()
    .manual("ok", workflow, "start")
    .every("bad_init", bare, "error", 60_000);
  await assert.rejects(scheduler.start(), { category: "configuration", message: /"error"/ });
});

// --- stop wakes every sleeper ----------------------------------------------------------------

Deno.test("RunningScheduler.stop() interrupts a 1-hour interval sleep at once", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const { workflow, runs } = okWorkflow();
  const running = await new Scheduler().every("long", workflow, "start", 3_600_000).start();
  await time.tickAsync(100); // the first run happens, then the flow sleeps for an hour
  assert.equal(runs(), 1);
  assert.equal(info(running, "long").nextRun?.getTime(), T0 + 3_600_000);
  let stopped = false;
  const stopping = running.stop().then(() => stopped = true);
  await time.tickAsync(0);
  assert.equal(stopped, true, "stop() needs no clock time");
  await stopping;
  assert.equal(time.now, T0 + 100);
  assert.equal(time.countTimers(), 0, "the hour-long timer is gone");
  assert.equal(info(running, "long").nextRun, undefined);
});

Deno.test("RunningScheduler.stop() interrupts a daily cron sleep at once", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const { workflow, runs } = okWorkflow();
  const running = await new Scheduler().cron("daily", workflow, "start", "0 0 0 * * *").start();
  await time.tickAsync(100);
  assert.equal(info(running, "daily").nextRun?.toISOString(), "2026-01-02T00:00:00.000Z");
  let stopped = false;
  const stopping = running.stop().then(() => stopped = true);
  await time.tickAsync(0);
  assert.equal(stopped, true);
  await stopping;
  assert.equal(runs(), 0);
  assert.equal(time.countTimers(), 0);
});

Deno.test("RunningScheduler.stop() interrupts a 60 s backoff sleep at once", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const { workflow } = flakyWorkflow();
  const running = await new Scheduler()
    .every("long_backoff", workflow, "start", 20, {
      backoff: { initial: 60_000, multiplier: 1, maxDelay: 60_000, jitter: 0 },
    })
    .start();
  await time.tickAsync(150);
  const flow = info(running, "long_backoff");
  assert.equal(flow.status, "backoff");
  assert.equal(flow.nextEligible?.getTime(), T0 + 60_000);
  assert.equal(flow.nextRun?.getTime(), T0 + 60_000, "the 20 ms interval waits for the window");
  let stopped = false;
  const stopping = running.stop().then(() => stopped = true);
  await time.tickAsync(0);
  assert.equal(stopped, true);
  await stopping;
  assert.equal(time.now, T0 + 150);
});

// --- a throwing workflow never strands "running" ----------------------------------------------

Deno.test("RunningScheduler: a throwing listener does not strand a flow in running", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const { workflow } = okWorkflow();
  workflow.addEventListener("stateenter", () => {
    throw new Error("observer panic — must not strand running");
  });
  const errors: unknown[] = [];
  const originalError = console.error;
  console.error = (...args: unknown[]) => void errors.push(args);
  try {
    await using running = await new Scheduler().manual("panicky", workflow, "start").start();
    await running.trigger("panicky");
    await time.tickAsync(10);
    assert.notEqual(info(running, "panicky").status, "running");
    await running.trigger("panicky"); // not refused as "already running"
    await time.tickAsync(10);
    assert.equal(info(running, "panicky").runCount, 2);
  } finally {
    console.error = originalError;
  }
  assert.ok(errors.length >= 1, "the listener failure was reported");
});

Deno.test("RunningScheduler: a task throwing a non-Error value backs off instead of staying running", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const workflow = new Workflow<Step>()
    .register("start", () => {
      throw "a bare string"; // cano's panic analogue: not even an Error
    }, { config: TaskConfig.minimal() })
    .addExitState("complete");
  await using running = await new Scheduler()
    .manual("panicky", workflow, "start", { backoff: { initial: 100, jitter: 0 } })
    .start();
  await running.trigger("panicky");
  await time.tickAsync(1);
  const flow = info(running, "panicky");
  assert.equal(flow.status, "backoff");
  assert.equal(flow.failureStreak, 1);
  assert.match(flow.lastError ?? "", /a bare string/);
  await running.trigger("panicky");
  await time.tickAsync(1);
  assert.equal(info(running, "panicky").failureStreak, 2);
});

Deno.test("RunningScheduler: an engine that blows up outside any task still settles the flow", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  // dispatchEvent throwing reaches the engine itself rather than a task: the closest thing to a
  // panic escaping the workflow future.
  class ExplodingWorkflow extends Workflow<Step> {
    override dispatchEvent(_event: Event): boolean {
      throw new Error("engine exploded");
    }
  }
  const workflow = new ExplodingWorkflow()
    .register("start", () => "complete", { config: TaskConfig.minimal() })
    .addExitState("complete");
  workflow.addEventListener("runstart", () => {});
  workflow.addEventListener("stateenter", () => {});
  await using running = await new Scheduler()
    .manual("exploding", workflow, "start", { backoff: { initial: 50, jitter: 0 } })
    .start();
  await running.trigger("exploding");
  await time.tickAsync(1);
  const flow = info(running, "exploding");
  assert.equal(flow.status, "backoff");
  assert.match(flow.lastError ?? "", /engine exploded/);
  assert.equal(running.hasRunningFlows(), false);
  await running.trigger("exploding");
});

// --- manual triggers and status ---------------------------------------------------------------

Deno.test("RunningScheduler.trigger() runs a manual flow", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const { workflow, runs } = okWorkflow();
  await using running = await new Scheduler().manual("test_task", workflow, "start").start();
  await running.trigger("test_task");
  await time.tickAsync(100);
  const flow = info(running, "test_task");
  assert.equal(flow.status, "completed");
  assert.equal(flow.runCount, 1);
  assert.equal(flow.lastRun?.getTime(), T0);
  assert.equal(runs(), 1);
});

Deno.test("RunningScheduler: a trigger through one reference is seen through every other", async () => {
  // cano's handle is a cheap clone; a JS object is shared by reference, and every read reflects
  // the same live state.
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const { workflow } = okWorkflow();
  await using running = await new Scheduler().manual("shared", workflow, "start").start();
  const other = running;
  await other.trigger("shared");
  await time.tickAsync(100);
  assert.equal(info(running, "shared").runCount, 1);
  assert.equal(running.list()[0]?.runCount, 1);
});

Deno.test("RunningScheduler.status() right after start", async () => {
  const { workflow } = okWorkflow();
  await using running = await new Scheduler().manual("test_task", workflow, "start").start();
  assert.deepEqual(running.status("test_task"), {
    id: "test_task",
    status: "idle",
    schedule: { kind: "manual" },
    runCount: 0,
    failureStreak: 0,
  });
});

Deno.test("RunningScheduler.list() returns every flow in registration order", async () => {
  const scheduler = new Scheduler()
    .manual("task1", okWorkflow().workflow, "start")
    .manual("task2", okWorkflow().workflow, "start")
    .manual("task3", okWorkflow().workflow, "start");
  assert.equal(scheduler.size, 3);
  assert.ok(scheduler.has("task1") && scheduler.has("task2") && scheduler.has("task3"));
  await using running = await scheduler.start();
  assert.deepEqual(running.list().map((flow) => flow.id), ["task1", "task2", "task3"]);
});

Deno.test("RunningScheduler.status() of an unknown id is undefined", async () => {
  await using running = await new Scheduler().manual("known", okWorkflow().workflow, "start")
    .start();
  assert.equal(running.status("nonexistent"), undefined);
});

Deno.test("RunningScheduler.trigger() rejects an unknown id", async () => {
  await using running = await new Scheduler().manual("known", okWorkflow().workflow, "start")
    .start();
  await assert.rejects(running.trigger("missing"), (error: unknown) => {
    assert.ok(error instanceof CanoError);
    assert.equal(error.category, "workflow");
    assert.equal(error.message, 'No workflow registered with id "missing"');
    return true;
  });
});

Deno.test("RunningScheduler.trigger() rejects an overlapping run", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const { workflow } = slowWorkflow(300);
  await using running = await new Scheduler().manual("slow", workflow, "start").start();
  await running.trigger("slow");
  await assert.rejects(running.trigger("slow"), { message: 'Flow "slow" is already running' });
  assert.equal(info(running, "slow").runCount, 1);
  await time.tickAsync(300);
  assert.equal(info(running, "slow").status, "completed");
});

Deno.test("RunningScheduler: finished runs leave no bookkeeping behind", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const { workflow, runs } = okWorkflow();
  await using running = await new Scheduler().manual("manual_task", workflow, "start").start();
  assert.equal(time.countTimers(), 0, "a manual flow arms no timer");
  for (let i = 0; i < 20; i++) {
    await running.trigger("manual_task");
    await time.tickAsync(30);
  }
  assert.equal(runs(), 20);
  assert.equal(info(running, "manual_task").runCount, 20);
  assert.equal(running.hasRunningFlows(), false);
  assert.equal(time.countTimers(), 0);
});

// --- after and during shutdown ----------------------------------------------------------------

Deno.test("RunningScheduler: calls after stop() report that the scheduler is not running", async () => {
  const running = await new Scheduler().manual("manual_task", okWorkflow().workflow, "start")
    .start();
  await running.stop();
  await running.stop(); // idempotent
  await running.wait();
  await assert.rejects(running.trigger("manual_task"), /Scheduler not running/);
  await assert.rejects(running.resetFlow("manual_task"), /Scheduler not running/);
  await assert.rejects(running.cancelFlow("manual_task"), /Scheduler not running/);
  assert.equal(running.hasRunningFlows(), false);
  assert.equal(info(running, "manual_task").status, "idle", "status stays readable");
});

Deno.test("RunningScheduler.trigger() during the shutdown window reports not running", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const log: string[] = [];
  // A compensatable step is never interrupted, so the run outlives the abort: that is the window.
  const workflow = sagaWorkflow(400, log);
  const running = await new Scheduler().manual("slow_task", workflow, "start").start();
  await running.trigger("slow_task");
  await time.tickAsync(50);
  assert.equal(running.hasRunningFlows(), true);
  let stopped = false;
  const stopping = running.stop().then(() => stopped = true);
  await time.tickAsync(50);
  assert.equal(stopped, false, "stop() waits for the run in flight");
  await assert.rejects(running.trigger("slow_task"), /Scheduler not running/);
  await time.tickAsync(300);
  await stopping;
  assert.equal(stopped, true);
  assert.deepEqual(log, ["reserve", "reserved", "release"], "the saga rolled back");
  assert.equal(info(running, "slow_task").status, "idle", "a cancelled run is not a failure");
});

Deno.test("Scheduler: a failing workflow registers like any other", () => {
  const scheduler = new Scheduler().manual("failing_task", flakyWorkflow().workflow, "start");
  assert.ok(scheduler.has("failing_task"));
});

// --- backoff, trip and reset ------------------------------------------------------------------

Deno.test("RunningScheduler: backoff stretches an interval flow's delay", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const { workflow } = flakyWorkflow();
  const running = await new Scheduler()
    .every("flaky", workflow, "start", 50)
    .setBackoff("flaky", { initial: 150, multiplier: 2, maxDelay: 600, jitter: 0 })
    .start();
  const events = recordEvents(running, T0);
  await time.tickAsync(1_300);
  await running.stop();
  // Without backoff a 50 ms interval would run 27 times; the windows are 150, 300, 600, 600.
  assert.deepEqual(startTimes(events), [0, 150, 450, 1_050]);
  assert.equal(info(running, "flaky").runCount, 4);
  assert.equal(info(running, "flaky").failureStreak, 4);
});

Deno.test("RunningScheduler: a flow trips at its streak limit and stops dispatching", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const { workflow, attempts } = flakyWorkflow();
  await using running = await new Scheduler()
    .every("trippy", workflow, "start", 40)
    .setBackoff("trippy", {
      initial: 20,
      multiplier: 1,
      maxDelay: 40,
      jitter: 0,
      streakLimit: 3,
    })
    .start();
  await time.tickAsync(500);
  const before = info(running, "trippy");
  assert.equal(before.status, "tripped");
  assert.equal(before.failureStreak, 3);
  assert.equal(before.runCount, 3);
  assert.equal(before.nextEligible, undefined);
  assert.equal(before.nextRun, undefined, "a tripped flow has no timer");
  assert.equal(before.lastError, "state=start attempt=1 path=[start] caused by: flaky");
  await time.tickAsync(300);
  assert.equal(info(running, "trippy").runCount, 3, "a tripped flow never dispatches");
  assert.equal(attempts(), 3);
  assert.equal(time.countTimers(), 0);
});

Deno.test("RunningScheduler.resetFlow() clears a trip and the flow resumes", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const { workflow } = flakyWorkflow(5);
  await using running = await new Scheduler()
    .every("reset_me", workflow, "start", 40)
    .setBackoff("reset_me", {
      initial: 20,
      multiplier: 1,
      maxDelay: 20,
      jitter: 0,
      streakLimit: 2,
    })
    .start();
  await time.tickAsync(300);
  let flow = info(running, "reset_me");
  assert.equal(flow.status, "tripped");
  assert.equal(flow.runCount, 2);

  await running.resetFlow("reset_me");
  flow = info(running, "reset_me");
  assert.equal(flow.failureStreak, 0);
  assert.equal(flow.nextEligible, undefined);
  assert.equal(flow.lastError, undefined);
  assert.equal(flow.status, "idle");

  await time.tickAsync(200); // attempts 3 and 4 fail: tripped again
  assert.equal(info(running, "reset_me").status, "tripped");
  await running.resetFlow("reset_me");
  await time.tickAsync(200); // attempt 5 succeeds
  flow = info(running, "reset_me");
  assert.equal(flow.status, "completed");
  assert.equal(flow.failureStreak, 0);
  assert.equal(flow.nextEligible, undefined);
  assert.ok(flow.runCount >= 5);
});

Deno.test("RunningScheduler: a success resets the failure streak", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const { workflow } = flakyWorkflow(3);
  await using running = await new Scheduler()
    .every("recover", workflow, "start", 30)
    .setBackoff("recover", { initial: 30, multiplier: 1, maxDelay: 30, jitter: 0 })
    .start();
  await time.tickAsync(61);
  const flow = info(running, "recover");
  assert.equal(flow.failureStreak, 0);
  assert.equal(flow.status, "completed");
  assert.equal(flow.runCount, 3);
});

Deno.test("RunningScheduler.trigger() is refused while the flow is tripped", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const { workflow } = flakyWorkflow();
  await using running = await new Scheduler()
    .manual("manual_flaky", workflow, "start")
    .setBackoff("manual_flaky", {
      initial: 10,
      multiplier: 1,
      maxDelay: 10,
      jitter: 0,
      streakLimit: 2,
    })
    .start();
  await running.trigger("manual_flaky");
  await time.tickAsync(40);
  await running.trigger("manual_flaky");
  await time.tickAsync(40);
  assert.equal(info(running, "manual_flaky").status, "tripped");
  await assert.rejects(
    running.trigger("manual_flaky"),
    { message: 'Flow "manual_flaky" is tripped — call resetFlow before triggering' },
  );
  await running.resetFlow("manual_flaky");
  await running.trigger("manual_flaky");
  await time.tickAsync(1);
});

Deno.test("RunningScheduler.resetFlow() rejects an unknown id", async () => {
  await using running = await new Scheduler().manual("known", okWorkflow().workflow, "start")
    .start();
  await assert.rejects(running.resetFlow("missing"), /No workflow registered with id "missing"/);
  await assert.rejects(running.cancelFlow("missing"), /No workflow registered with id "missing"/);
});

Deno.test("Scheduler.setBackoff() rejects an unknown id", () => {
  assert.throws(
    () => new Scheduler().setBackoff("missing", {}),
    (error: unknown) => error instanceof ConfigurationError && /"missing"/.test(error.message),
  );
});

Deno.test("RunningScheduler: the default policy parks a failed flow in backoff", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  await using running = await new Scheduler()
    .every("defaulted", flakyWorkflow().workflow, "start", 40)
    .start();
  await time.tickAsync(50);
  const flow = info(running, "defaulted");
  assert.equal(flow.status, "backoff");
  assert.equal(flow.failureStreak, 1);
  const window = flow.nextEligible!.getTime() - T0;
  assert.ok(window >= 900 && window <= 1_100, `1 s ± 10 % jitter, got ${window} ms`);
  assert.equal(flow.runCount, 1, "the 40 ms interval waits for the window");
});

Deno.test("RunningScheduler.trigger() overrides a backoff window", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  await using running = await new Scheduler()
    .manual("flow", flakyWorkflow(2).workflow, "start")
    .setBackoff("flow", { initial: 60_000, multiplier: 1, maxDelay: 60_000, jitter: 0 })
    .start();
  await running.trigger("flow");
  await time.tickAsync(20);
  let flow = info(running, "flow");
  assert.equal(flow.status, "backoff");
  assert.equal(flow.runCount, 1);
  await running.trigger("flow"); // inside the 60 s window
  await time.tickAsync(20);
  flow = info(running, "flow");
  assert.equal(flow.status, "completed");
  assert.equal(flow.runCount, 2);
  assert.equal(flow.failureStreak, 0);
  assert.equal(flow.nextEligible, undefined);
});

Deno.test("RunningScheduler: trip, reset and trip again in one session", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  await using running = await new Scheduler()
    .every("flow", flakyWorkflow().workflow, "start", 20)
    .setBackoff("flow", { initial: 20, multiplier: 1, maxDelay: 20, jitter: 0, streakLimit: 2 })
    .start();
  const events = recordEvents(running, T0);
  await time.tickAsync(100);
  let flow = info(running, "flow");
  assert.equal(flow.status, "tripped");
  assert.equal(flow.failureStreak, 2);
  const runsAtFirstTrip = flow.runCount;
  await running.resetFlow("flow");
  flow = info(running, "flow");
  assert.equal(flow.failureStreak, 0);
  assert.equal(flow.status, "idle");
  await time.tickAsync(100);
  flow = info(running, "flow");
  assert.equal(flow.status, "tripped");
  assert.equal(flow.failureStreak, 2);
  assert.equal(flow.runCount, runsAtFirstTrip + 2);
  // The reset at 100 ms resumes the schedule at once (the interval since the last run is over).
  assert.deepEqual(startTimes(events), [0, 20, 100, 120]);
});

Deno.test("RunningScheduler: cron ticks are suppressed inside a backoff window", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  await using running = await new Scheduler()
    .cron("flow", flakyWorkflow().workflow, "start", "* * * * * *")
    .setBackoff("flow", { initial: 60_000, multiplier: 1, maxDelay: 60_000, jitter: 0 })
    .start();
  const events = recordEvents(running, T0);
  await time.tickAsync(1_050);
  let flow = info(running, "flow");
  assert.equal(flow.status, "backoff");
  assert.equal(flow.runCount, 1);
  assert.equal(flow.nextEligible?.getTime(), T0 + 61_000);
  await time.tickAsync(3_200); // three ticks inside the window
  flow = info(running, "flow");
  assert.equal(flow.runCount, 1, "cron ticks must not dispatch inside a backoff window");
  assert.equal(flow.status, "backoff");
  await time.tickAsync(61_000 - 4_250); // the tick at the window's end runs
  assert.deepEqual(startTimes(events), [1_000, 61_000]);
});

Deno.test("RunningScheduler.resetFlow() between failures restarts the streak at 1", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  await using running = await new Scheduler()
    .manual("flow", flakyWorkflow().workflow, "start")
    .setBackoff("flow", { initial: 20, multiplier: 1, maxDelay: 20, jitter: 0 })
    .start();
  for (let i = 0; i < 3; i++) {
    await running.trigger("flow");
    await time.tickAsync(15);
    assert.equal(info(running, "flow").status, "backoff");
  }
  assert.equal(info(running, "flow").failureStreak, 3);
  await running.resetFlow("flow");
  assert.equal(info(running, "flow").failureStreak, 0);
  await running.trigger("flow");
  await time.tickAsync(15);
  assert.equal(info(running, "flow").failureStreak, 1, "a fresh streak, not 4");
});

Deno.test("RunningScheduler.resetFlow() during an in-flight run: the failing run restarts the streak", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const { workflow } = slowWorkflow(100, { fail: true });
  await using running = await new Scheduler()
    .manual("flow", workflow, "start")
    .setBackoff("flow", { initial: 20, multiplier: 1, maxDelay: 20, jitter: 0 })
    .start();
  for (let i = 0; i < 3; i++) {
    await running.trigger("flow");
    await time.tickAsync(100);
  }
  assert.equal(info(running, "flow").failureStreak, 3);
  await running.trigger("flow");
  await time.tickAsync(50);
  await running.resetFlow("flow");
  let flow = info(running, "flow");
  assert.equal(flow.status, "running", "reset does not clobber running");
  assert.equal(flow.failureStreak, 0);
  await time.tickAsync(50);
  flow = info(running, "flow");
  assert.equal(flow.status, "backoff");
  assert.equal(flow.failureStreak, 1);
});

// --- no run outlives stop ---------------------------------------------------------------------

Deno.test("RunningScheduler.stop() aborts a long run in flight so it never completes", async () => {
  // cano: dropping the last handle aborts a wedged run the driver is waiting on. Here stop()
  // aborts every run in flight through its signal.
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const { workflow, completions } = slowWorkflow(30_000);
  const running = await new Scheduler().manual("wedged", workflow, "start").start();
  await running.trigger("wedged");
  await time.tickAsync(100);
  const ended: string[] = [];
  running.addEventListener("flowend", (e) => ended.push(e.outcome));
  await running.stop();
  assert.deepEqual(ended, ["cancelled"]);
  await time.tickAsync(30_000);
  assert.equal(completions(), 0, "the run was aborted, not waited out");
  assert.equal(info(running, "wedged").status, "idle");
});

Deno.test("RunningScheduler: `await using` stops the flows at the end of the scope", async () => {
  // cano: dropping the handle without stop() aborts the loops.
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const { workflow, runs } = okWorkflow();
  {
    await using _running = await new Scheduler().every("ticker", workflow, "start", 20).start();
    await time.tickAsync(120);
    assert.ok(runs() >= 2);
  }
  const frozen = runs();
  await time.tickAsync(500);
  assert.equal(runs(), frozen, "no run after disposal");
  assert.equal(time.countTimers(), 0);
});

Deno.test("RunningScheduler.stop() reports runs still in flight at the timeout and tears down once they end", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const log: string[] = [];
  const saga = sagaWorkflow(60_000, log);
  const resources = resourcefulWorkflow("db", log);
  const running = await new Scheduler()
    .manual("db", resources, "start")
    .manual("stubborn", saga, "start")
    .start();
  await running.trigger("stubborn");
  await time.tickAsync(10);
  const stopping = running.stop({ timeout: 1_000 });
  const outcome = stopping.then(() => "stopped", (error: unknown) => error);
  await time.tickAsync(1_000);
  const error = await outcome;
  assert.ok(error instanceof CanoError);
  assert.equal(error.category, "workflow");
  assert.match(error.message, /^Timeout waiting for workflows to complete: "stubborn"/);
  assert.deepEqual(log, ["setup db", "reserve"], "no teardown under a run still in flight");
  const later = running.stop().then(() => "stopped", (e: unknown) => e);
  await time.tickAsync(60_000); // the stubborn step finishes and rolls back; then the teardown
  assert.equal(await later, error, "later calls return the same outcome");
  await assert.rejects(running.wait(), /Timeout waiting/);
  assert.deepEqual(log.slice(2), ["reserved", "release", "teardown db"]);
});
