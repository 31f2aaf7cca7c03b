// The scheduler's fast paths, and the behaviour they must not skip: the cached cron next tick
// (recomputed after a clock jump, across daylight-saving changes, after a run longer than the
// period), runs launched together and started one by one (events, lateness, cancel and stop
// before the engine starts), and the timer queue's turns (cancels inside a turn, the gap).

import assert from "node:assert/strict";
import { Cron } from "croner";
import { Resources, TaskConfig, Workflow } from "../mod.ts";
import { Scheduler } from "../scheduler.ts";
import { CronSchedule } from "../src/scheduler/flow.ts";
import { TimerQueue } from "../src/scheduler/timer_queue.ts";
import { FakeTime } from "../testing.ts";
import {
  flakyWorkflow,
  info,
  okWorkflow,
  recordEvents,
  slowWorkflow,
  type Step,
} from "./_scheduler_helpers.ts";

const T0 = Date.UTC(2026, 0, 1);

/** Croner's own answer, asked afresh each time (what the cache must always agree with). */
function fresh(expression: string, timezone: string, from: number): number | undefined {
  const zone = timezone === "UTC" ? { utcOffset: 0 } : { timezone };
  return new Cron(expression, { ...zone, mode: "5-or-6-parts", paused: true })
    .nextRun(new Date(from))?.getTime();
}

function schedule(expression: string, timezone: string): CronSchedule {
  const zone = timezone === "UTC" ? { utcOffset: 0 } : { timezone };
  return new CronSchedule(new Cron(expression, { ...zone, mode: "5-or-6-parts", paused: true }));
}

Deno.test("CronSchedule.next() agrees with croner across DST changes, jumps back and ahead", () => {
  const cases: [string, string][] = [
    ["* * * * * *", "UTC"],
    ["*/7 * * * * *", "UTC"],
    ["0 30 2 * * *", "Europe/Berlin"], // in the hour skipped on 29 March, twice on 25 October
    ["0 0 * * * *", "Europe/Berlin"],
    ["0 15 1 * * *", "America/New_York"],
    ["0 0 3 * * 0", "Europe/Berlin"],
  ];
  // Around the spring and autumn changes of 2026 (Europe 29 March / 25 October, US 8 March /
  // 1 November): a forward walk of random steps, with jumps back and ahead now and then.
  const windows = [Date.UTC(2026, 2, 7, 12), Date.UTC(2026, 2, 28, 12), Date.UTC(2026, 9, 24, 12)];
  let seed = 7;
  const random = (): number => (seed = (seed * 16807) % 2_147_483_647) / 2_147_483_647;
  for (const [expression, timezone] of cases) {
    for (const start of windows) {
      const cached = schedule(expression, timezone);
      let from = start;
      for (let step = 0; step < 1_500; step++) {
        const roll = random();
        if (roll < 0.03) from -= Math.floor(random() * 3 * 3_600_000); // the clock went back
        else if (roll < 0.06) from += Math.floor(random() * 30 * 3_600_000); // far ahead
        else if (roll < 0.5) from += Math.floor(random() * 1_500); // sub-second steps
        else from += Math.floor(random() * 2 * 3_600_000);
        if (random() < 0.1) from = Math.floor(from / 1_000) * 1_000 - (random() < 0.5 ? 1 : 0);
        assert.equal(
          cached.next(from),
          fresh(expression, timezone, from),
          `${expression} (${timezone}) from ${new Date(from).toISOString()}`,
        );
      }
    }
  }
});

Deno.test("Scheduler cron: a run longer than the period skips the ticks it covered", async () => {
  using time = new FakeTime(T0);
  const { workflow } = slowWorkflow(2_500);
  await using running = await new Scheduler()
    .cron("slow", workflow, "start", "* * * * * *")
    .start();
  const due: number[] = [];
  const at: number[] = [];
  running.addEventListener("flowstart", (e) => {
    due.push(e.scheduledAt!.getTime() - T0);
    at.push(Date.now() - T0);
  });
  await time.tickAsync(8_000);
  // 1 000 → 3 500, then the first tick after the end: 4 000 → 6 500, then 7 000.
  assert.deepEqual(due, [1_000, 4_000, 7_000]);
  assert.deepEqual(at, due, "each run starts on its tick: lateness 0 on the fake clock");
});

Deno.test("Scheduler cron: the next tick is computed afresh after the wall clock jumps", async () => {
  using time = new FakeTime(T0);
  const { workflow, runs } = okWorkflow();
  await using running = await new Scheduler()
    .cron("minutely", workflow, "start", "0 * * * * *")
    .start();
  await time.tickAsync(60_000);
  assert.equal(runs(), 1);
  assert.equal(info(running, "minutely").nextRun?.getTime(), T0 + 120_000);
  const clockNow = Date.now;
  for (const shift of [-3_600_000, 7_200_000]) { // back an hour, then ahead two (from the start)
    Date.now = () => clockNow.call(Date) + shift;
    try {
      const ended = new Promise((resolve) =>
        running.addEventListener("flowend", resolve, { once: true })
      );
      await running.trigger("minutely"); // its end plans the next tick from the shifted clock
      await ended;
      const now = Date.now();
      assert.equal(
        info(running, "minutely").nextRun?.getTime(),
        Math.floor(now / 60_000) * 60_000 + 60_000,
        `shift ${shift}: the minute after ${new Date(now).toISOString()}`,
      );
    } finally {
      Date.now = clockNow;
    }
  }
});

Deno.test("Scheduler cron: daily flows in a DST zone run on croner's ticks through both changes", async () => {
  for (const start of [Date.UTC(2026, 2, 27), Date.UTC(2026, 9, 23)]) {
    using time = new FakeTime(start);
    const { workflow } = okWorkflow();
    const expressions = ["0 30 2 * * *", "0 0 3 * * *", "0 59 1 * * *"];
    const scheduler = new Scheduler();
    for (const [i, expression] of expressions.entries()) {
      scheduler.cron(`f${i}`, workflow, "start", expression, { timezone: "Europe/Berlin" });
    }
    await using running = await scheduler.start();
    const due = new Map<string, number[]>();
    running.addEventListener("flowstart", (e) => {
      assert.equal(Date.now(), e.scheduledAt!.getTime(), "a run starts on its tick");
      due.set(e.id, [...due.get(e.id) ?? [], e.scheduledAt!.getTime()]);
    });
    await time.tickAsync(4 * 86_400_000);
    for (const [i, expression] of expressions.entries()) {
      const expected: number[] = [];
      for (
        let from = start, next;
        (next = fresh(expression, "Europe/Berlin", from)!) <= Date.now();
      ) {
        expected.push(next);
        from = next;
      }
      assert.ok(expected.length >= 3, `${expression}: ${expected.length} ticks`);
      assert.deepEqual(due.get(`f${i}`), expected, `${expression} from ${new Date(start)}`);
    }
  }
});

Deno.test("Scheduler: 500 flows due at once all run, each with its events in order", async () => {
  using time = new FakeTime(T0);
  const { workflow, runs } = okWorkflow();
  const scheduler = new Scheduler();
  for (let i = 0; i < 500; i++) scheduler.cron(`f${i}`, workflow, "start", "* * * * * *");
  await using running = await scheduler.start();
  const events = recordEvents(running, T0);
  const late: number[] = [];
  running.addEventListener("flowstart", (e) => late.push(Date.now() - e.scheduledAt!.getTime()));
  await time.tickAsync(1_000);
  assert.equal(runs(), 500);
  assert.deepEqual(new Set(late), new Set([0]), "dispatched on the tick");
  for (let i = 0; i < 500; i++) {
    assert.deepEqual(
      events.filter((e) => e.id === `f${i}`).map((e) => `${e.t} ${e.type} ${e.detail}`),
      [
        "1000 flowstatus idle→running",
        "1000 flowstart cron",
        "1000 flowend completed",
        "1000 flowstatus running→completed",
      ],
    );
  }
  assert.equal(running.hasRunningFlows(), false);
});

Deno.test("Scheduler: failures in a batch each back off and report their lastError", async () => {
  using time = new FakeTime(T0);
  const scheduler = new Scheduler();
  for (let i = 0; i < 100; i++) {
    scheduler.cron(`f${i}`, flakyWorkflow().workflow, "start", "* * * * * *", {
      backoff: { initial: 5_000, jitter: 0 },
    });
  }
  await using running = await scheduler.start();
  await time.tickAsync(1_000);
  for (const flow of running.list()) {
    assert.equal(flow.status, "backoff");
    assert.equal(flow.failureStreak, 1);
    assert.match(flow.lastError ?? "", /flaky/);
    assert.equal(flow.nextEligible?.getTime(), T0 + 6_000);
    assert.equal(flow.nextRun?.getTime(), T0 + 6_000, "the first tick at the window's end");
  }
});

Deno.test("RunningScheduler.cancelFlow() of a run whose engine has not started yet", async () => {
  using time = new FakeTime(T0);
  let ran = 0;
  const workflow = new Workflow<Step>()
    .register("start", () => (ran++, "complete"), { config: TaskConfig.minimal() })
    .addExitStates("complete", "error");
  await using running = await new Scheduler().manual("job", workflow, "start").start();
  const outcomes: string[] = [];
  running.addEventListener("flowend", (e) => outcomes.push(e.outcome));
  const triggered = running.trigger("job"); // reserved and launched; the engine starts next
  assert.equal(info(running, "job").status, "running");
  await running.cancelFlow("job");
  await triggered;
  assert.equal(ran, 0, "the task never ran");
  assert.deepEqual(outcomes, ["cancelled"]);
  assert.equal(info(running, "job").status, "idle");
  assert.equal(info(running, "job").failureStreak, 0);
  await time.tickAsync(0);
});

Deno.test("RunningScheduler.stop() from a flowstart listener cancels the batch's runs before they start", async () => {
  using time = new FakeTime(T0);
  const log: string[] = [];
  let ran = 0;
  const workflow = new Workflow<Step, Record<string, unknown>, { db: { setup(): void } }>({
    resources: new Resources({
      db: { setup: () => void log.push("setup"), teardown: () => void log.push("teardown") },
    }),
  })
    .register("start", () => (ran++, "complete"), { config: TaskConfig.minimal() })
    .addExitStates("complete", "error");
  const scheduler = new Scheduler();
  for (let i = 0; i < 200; i++) scheduler.cron(`f${i}`, workflow, "start", "* * * * * *");
  const running = await scheduler.start();
  let stopped: Promise<void> | undefined;
  let starts = 0;
  running.addEventListener("flowstart", () => {
    if (++starts === 100) stopped = running.stop();
  });
  running.addEventListener("flowend", (e) => log.push(`${e.id} ${e.outcome}`));
  await time.tickAsync(1_000);
  await stopped;
  assert.equal(starts, 100, "the rest of the turn was not dispatched");
  assert.equal(ran, 0);
  assert.equal(log.length, 102);
  assert.equal(log[0], "setup");
  assert.equal(log.at(-1), "teardown", "torn down once every launched run had ended");
  assert.ok(log.slice(1, -1).every((line) => line.endsWith(" cancelled")), log.join());
});

Deno.test("TimerQueue: a callback that cancels or moves an entry due in the same turn", async () => {
  using time = new FakeTime(T0);
  const queue = new TimerQueue();
  const fired: string[] = [];
  const entries: ReturnType<TimerQueue["schedule"]>[] = [];
  entries.push(queue.schedule(T0 + 10, () => {
    fired.push(`a@${Date.now() - T0}`);
    assert.equal(queue.cancel(entries[1]!), true, "due, not run yet: still cancellable");
    queue.reschedule(entries[2]!, T0 + 50);
  }));
  entries.push(queue.schedule(T0 + 10, () => fired.push("b")));
  entries.push(queue.schedule(T0 + 10, () => fired.push(`c@${Date.now() - T0}`)));
  entries.push(queue.schedule(T0 + 10, () => fired.push(`d@${Date.now() - T0}`)));
  await time.tickAsync(100);
  assert.deepEqual(fired, ["a@10", "d@10", "c@50"]);
});

Deno.test("TimerQueue.clear() inside a turn drops the rest of it", async () => {
  using time = new FakeTime(T0);
  const queue = new TimerQueue();
  const fired: number[] = [];
  for (let i = 0; i < 5; i++) {
    queue.schedule(T0 + 10, () => {
      fired.push(i);
      if (i === 1) queue.clear();
    });
  }
  await time.tickAsync(100);
  assert.deepEqual(fired, [0, 1]);
  assert.equal(time.countTimers(), 0);
});

Deno.test("TimerQueue: when onError itself throws, the rest of the turn runs on the next one", async () => {
  using time = new FakeTime(T0);
  const queue = new TimerQueue(() => {
    throw new Error("the reporter is broken too");
  });
  const fired: string[] = [];
  queue.schedule(T0 + 10, () => {
    throw new Error("boom");
  });
  queue.schedule(T0 + 10, () => fired.push(`next@${Date.now() - T0}`));
  const errors: unknown[] = [];
  const onError = (e: ErrorEvent): void => {
    e.preventDefault();
    errors.push(e.error);
  };
  globalThis.addEventListener("error", onError);
  try {
    await time.tickAsync(100);
  } catch (error) {
    errors.push(error);
  } finally {
    globalThis.removeEventListener("error", onError);
  }
  await time.tickAsync(100);
  assert.deepEqual(fired, ["next@11"]);
  assert.equal(queue.size, 0);
});

Deno.test("TimerQueue with a gap: entries due close together share a turn", async () => {
  using time = new FakeTime(T0);
  const queue = new TimerQueue(undefined, { gap: 10 });
  const fired: string[] = [];
  for (const ms of [5, 6, 9, 14, 40]) {
    queue.schedule(T0 + ms, () => fired.push(`${ms}@${Date.now() - T0}`));
  }
  await time.tickAsync(100);
  // 5 runs on time; 6 and 9 wait for the turn 10 ms later (15), with 14; 40 is on its own.
  assert.deepEqual(fired, ["5@5", "6@15", "9@15", "14@15", "40@40"]);
});

Deno.test("TimerQueue with an adaptive gap: long while entries are sparse, short once they are dense", async () => {
  using time = new FakeTime(T0);
  const queue = new TimerQueue(undefined, { gap: 5, maxGap: 20, batch: 200 });
  assert.equal(queue.gap, 20); // no rate known yet: the widest gap
  // Sparse: 1 entry a ms for 200 ms. About 20 ms of entries share each turn.
  const sparse: number[] = [];
  for (let ms = 1; ms <= 200; ms++) queue.schedule(T0 + ms, () => sparse.push(Date.now() - T0));
  await time.tickAsync(250);
  assert.equal(sparse.length, 200);
  assert.equal(queue.gap, 20);
  const turns = new Set(sparse).size;
  assert.ok(turns >= 9 && turns <= 12, `200 entries over 200 ms ran in ${turns} turns`);
  assert.ok(sparse.every((at, i) => at - (i + 1) <= 20), "no entry waited more than the gap");
  // Dense: 100 entries a ms. Once the rate is known the gap is the least, 5 ms.
  const start = Date.now();
  let ran = 0;
  for (let ms = 1; ms <= 300; ms++) {
    for (let i = 0; i < 100; i++) queue.schedule(start + ms, () => void ran++);
  }
  await time.tickAsync(400);
  assert.equal(ran, 30_000);
  assert.equal(queue.gap, 5);
  // Sparse again: the gap widens back.
  for (let ms = 1; ms <= 200; ms++) queue.schedule(Date.now() + ms, () => {});
  await time.tickAsync(250);
  assert.equal(queue.gap, 20);
});
