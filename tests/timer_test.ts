import assert from "node:assert/strict";
import {
  ConfigurationError,
  Resources,
  RetryMode,
  StateContextError,
  TaskConfig,
  type TaskContext,
  TimeoutError,
  timerTask,
  type TimerWait,
  Workflow,
} from "../mod.ts";
import { FakeTime } from "../testing.ts";

const START = Date.UTC(2026, 0, 1);
const DAY = 86_400_000;

function context(signal: AbortSignal = new AbortController().signal): TaskContext {
  return { state: "sleep", data: {}, resources: new Resources(), signal, attempt: 1, runId: "t" };
}

/** A timer task that waits `until` and records when `afterWait` ran (ms since START). */
function recorded(until: () => TimerWait, fired: number[]) {
  return timerTask({
    wait: until,
    afterWait: () => {
      fired.push(Date.now() - START);
      return "done";
    },
  });
}

/** Resolves to whether `promise` settles within a few microtask turns (that is, with no timer). */
async function settlesWithoutTimers(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  promise.then(() => settled = true, () => settled = true);
  for (let i = 0; i < 50 && !settled; i++) await Promise.resolve();
  return settled;
}

Deno.test("timerTask() sleeps a duration once, then runs afterWait", async () => {
  using time = new FakeTime(START);
  const fired: number[] = [];
  const run = Promise.resolve(recorded(() => 1_500, fired).run(context()));
  await time.tickAsync(1_499);
  assert.deepEqual(fired, []);
  await time.tickAsync(1);
  assert.equal(await run, "done");
  assert.deepEqual(fired, [1_500]);
});

Deno.test("timerTask() sleeps until an absolute Date", async () => {
  using time = new FakeTime(START);
  const fired: number[] = [];
  const run = Promise.resolve(recorded(() => new Date(START + 60_000), fired).run(context()));
  await time.tickAsync(59_999);
  assert.deepEqual(fired, []);
  await time.tickAsync(1);
  assert.equal(await run, "done");
  assert.deepEqual(fired, [60_000]);
});

Deno.test("timerTask() does not sleep for 0 or a past Date", async () => {
  using _time = new FakeTime(START);
  for (const until of [0, new Date(START - 5_000), new Date(START)]) {
    const fired: number[] = [];
    const run = Promise.resolve(recorded(() => until, fired).run(context()));
    assert.ok(await settlesWithoutTimers(run), `no timer for ${String(until)}`);
    assert.equal(await run, "done");
    assert.deepEqual(fired, [0]);
  }
});

Deno.test("timerTask() awaits an async wait", async () => {
  using time = new FakeTime(START);
  const fired: number[] = [];
  const run = Promise.resolve(recorded(() => Promise.resolve(100) as never, fired).run(context()));
  await time.tickAsync(100);
  assert.equal(await run, "done");
  assert.deepEqual(fired, [100]);
});

Deno.test("timerTask() splits sleeps longer than setTimeout's limit", async () => {
  using time = new FakeTime(START);
  for (const kind of ["duration", "date"]) {
    const fired: number[] = [];
    const begin = time.now - START;
    const until = kind === "duration" ? 30 * DAY : new Date(time.now + 30 * DAY);
    const run = Promise.resolve(recorded(() => until, fired).run(context()));
    await time.tickAsync(25 * DAY); // past 2^31 − 1 ms (≈ 24.8 days)
    assert.deepEqual(fired, [], `${kind}: did not fire early`);
    await time.tickAsync(5 * DAY);
    assert.equal(await run, "done");
    assert.deepEqual(fired, [begin + 30 * DAY], kind);
  }
});

Deno.test("timerTask() evaluates wait on every run", async () => {
  using time = new FakeTime(START);
  let waits = 0;
  const fired: number[] = [];
  const task = recorded(() => {
    waits += 1;
    return 100;
  }, fired);
  const first = Promise.resolve(task.run(context()));
  await time.tickAsync(100);
  await first;
  const second = Promise.resolve(task.run(context()));
  await time.tickAsync(100);
  await second;
  assert.equal(waits, 2);
  assert.deepEqual(fired, [100, 200]);
});

Deno.test("timerTask() fails without sleeping or afterWait when wait throws", async () => {
  const boom = new Error("no schedule");
  let after = 0;
  const task = timerTask({
    wait: () => {
      throw boom;
    },
    afterWait: () => {
      after += 1;
      return "done";
    },
  });
  await assert.rejects(Promise.resolve(task.run(context())), (error) => error === boom);
  assert.equal(after, 0);
});

Deno.test("timerTask() surfaces an afterWait error", async () => {
  const boom = new Error("send failed");
  const task = timerTask({
    wait: () => 0,
    afterWait: () => {
      throw boom;
    },
  });
  await assert.rejects(Promise.resolve(task.run(context())), (error) => error === boom);
});

Deno.test("timerTask() rejects a bad wait result with a ConfigurationError", async () => {
  for (const until of [-1, Number.NaN, Infinity, "10", new Date(Number.NaN)]) {
    let after = 0;
    const task = timerTask({
      wait: () => until as TimerWait,
      afterWait: () => {
        after += 1;
        return "done";
      },
    });
    await assert.rejects(
      Promise.resolve(task.run(context())),
      (error: unknown) =>
        error instanceof ConfigurationError && /timerTask wait\(\)/.test(error.message),
      String(until),
    );
    assert.equal(after, 0);
  }
});

Deno.test("timerTask() validates its options when created", () => {
  const wait = (): number => 0;
  const afterWait = (): string => "done";
  const bad: [unknown, RegExp][] = [
    [null, /needs an options object/],
    [{ afterWait }, /wait must be a function/],
    [{ wait }, /afterWait must be a function/],
    [{ wait: 10, afterWait }, /wait must be a function/],
    [{ wait, afterWait, name: 42 }, /name must be a non-empty string/],
    [{ wait, afterWait, config: { retry: "fixed" } }, /retry must be a RetryMode/],
  ];
  for (const [options, message] of bad) {
    assert.throws(
      () => timerTask(options as Parameters<typeof timerTask>[0]),
      (error: unknown) => error instanceof ConfigurationError && message.test(error.message),
      String(message),
    );
  }
});

Deno.test("timerTask() defaults to TaskConfig.minimal() and keeps a given config's fields", () => {
  const wait = (): number => 0;
  const afterWait = (): string => "done";
  assert.deepEqual(timerTask({ wait, afterWait }).config, TaskConfig.minimal());
  const config: TaskConfig = { retry: RetryMode.fixed(1, 10) };
  const task = timerTask({ wait, afterWait, config, name: "reminder" });
  assert.deepEqual(task.config, config);
  assert.equal(task.name, "reminder");
});

Deno.test("timerTask() cancelled during its sleep rejects with signal.reason, skipping afterWait", async () => {
  using time = new FakeTime(START);
  const controller = new AbortController();
  const fired: number[] = [];
  const reason = new Error("stop");
  const run = assert.rejects(
    Promise.resolve(recorded(() => 10_000, fired).run(context(controller.signal))),
    (error) => error === reason,
  );
  await time.tickAsync(3_000);
  controller.abort(reason);
  await run;
  await time.tickAsync(10_000);
  assert.deepEqual(fired, []);
  assert.equal(time.now - START, 13_000);
});

Deno.test("timerTask() with a pre-aborted signal does not run afterWait, even with no sleep", async () => {
  const controller = new AbortController();
  controller.abort(new Error("already"));
  const fired: number[] = [];
  await assert.rejects(
    Promise.resolve(recorded(() => 0, fired).run(context(controller.signal))),
    /already/,
  );
  assert.deepEqual(fired, []);
});

// ── Through a workflow ─────────────────────────────────────────────────────────────────────────

type Step = "start" | "sleep" | "done";

Deno.test("Workflow runs a timerTask: wait, then the next state from afterWait", async () => {
  using time = new FakeTime(START);
  const workflow = new Workflow<Step, { firedAt: number }>()
    .register("start", () => "sleep")
    .register(
      "sleep",
      timerTask({
        wait: () => new Date(Date.now() + 2_000),
        afterWait: (ctx) => {
          ctx.data.firedAt = Date.now() - START;
          return "done";
        },
      }),
    )
    .addExitState("done");
  const run = workflow.orchestrate("start", { data: { firedAt: -1 } });
  await time.tickAsync(2_000);
  const result = await run;
  assert.equal(result.state, "done");
  assert.equal(result.data.firedAt, 2_000);
});

Deno.test("Workflow: attemptTimeout caps a timerTask's wait", async () => {
  using time = new FakeTime(START);
  const fired: number[] = [];
  const workflow = new Workflow<Step>()
    .register(
      "sleep",
      timerTask({
        config: { retry: RetryMode.none(), attemptTimeout: 1_000 },
        wait: () => 5_000,
        afterWait: () => {
          fired.push(Date.now() - START);
          return "done";
        },
      }),
    )
    .addExitState("done");
  const run = assert.rejects(workflow.orchestrate("sleep"), (error: unknown) => {
    assert.ok(error instanceof StateContextError);
    assert.equal(error.category, "timeout");
    assert.ok(error.cause instanceof TimeoutError);
    return true;
  });
  await time.tickAsync(1_000);
  await run;
  await time.tickAsync(10_000);
  assert.deepEqual(fired, []);
});

Deno.test("Workflow: cancelling during a timerTask's sleep ends the run promptly as cancelled", async () => {
  using time = new FakeTime(START);
  const controller = new AbortController();
  const fired: number[] = [];
  const workflow = new Workflow<Step>()
    .register("sleep", recorded(() => new Date(START + DAY), fired))
    .addExitState("done");
  const run = assert.rejects(
    workflow.orchestrate("sleep", { signal: controller.signal }),
    (error: unknown) => {
      assert.ok(error instanceof StateContextError);
      assert.equal(error.category, "cancelled");
      assert.equal(error.state, "sleep");
      return true;
    },
  );
  await time.tickAsync(5_000);
  controller.abort();
  await run;
  assert.deepEqual(fired, []);
  assert.equal(time.now - START, 5_000);
});
