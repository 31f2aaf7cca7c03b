// Durations above setTimeout's limit (2^31 − 1 ms ≈ 24.8 days), which a plain setTimeout fires
// after about 1 ms, driven by a fake clock.

import assert from "node:assert/strict";
import {
  batchTask,
  CircuitBreaker,
  pending,
  pollTask,
  ready,
  Resources,
  RetryMode,
  StateContextError,
  type TaskContext,
  TimeoutError,
  WindowedRateLimiter,
  Workflow,
} from "../mod.ts";
import { deadline, delay, MAX_TIMER_DELAY, setLongTimeout } from "../src/async.ts";
import { FakeTime } from "../testing.ts";

const DAY = 86_400_000;

/** Tracks whether a promise has settled, without leaving its rejection unhandled. */
function watch<T>(promise: Promise<T>): { settled: () => boolean; result: Promise<T> } {
  let settled = false;
  const result = promise.finally(() => settled = true);
  result.catch(() => {});
  return { settled: () => settled, result };
}

Deno.test("MAX_TIMER_DELAY is setTimeout's limit", () => {
  assert.equal(MAX_TIMER_DELAY, 2 ** 31 - 1);
});

Deno.test("delay(35 days) resolves after 35 days, not after 1 ms or 2^31 ms", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const sleep = watch(delay(35 * DAY));
  await time.tickAsync(1);
  assert.equal(sleep.settled(), false, "not after 1 ms");
  await time.tickAsync(MAX_TIMER_DELAY);
  assert.equal(sleep.settled(), false, "not after 2^31 ms");
  assert.equal(time.countTimers(), 1, "one chunk pending at a time");
  await time.tickAsync(35 * DAY - MAX_TIMER_DELAY - 2);
  assert.equal(sleep.settled(), false, "not 1 ms early");
  await time.tickAsync(1);
  assert.equal(sleep.settled(), true);
  await sleep.result;
  assert.equal(time.countTimers(), 0);
});

Deno.test("delay(35 days) aborts at once and leaves no timer behind", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const controller = new AbortController();
  const sleep = watch(delay(35 * DAY, controller.signal));
  await time.tickAsync(MAX_TIMER_DELAY + 5); // into the second chunk
  assert.equal(sleep.settled(), false);
  controller.abort(new Error("stop"));
  await assert.rejects(sleep.result, /stop/);
  assert.equal(time.countTimers(), 0);
});

Deno.test("delay(Infinity) waits until aborted and arms no timer", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const controller = new AbortController();
  const sleep = watch(delay(Infinity, controller.signal));
  assert.equal(time.countTimers(), 0);
  await time.tickAsync(1_000 * DAY);
  assert.equal(sleep.settled(), false);
  controller.abort(new Error("enough"));
  await assert.rejects(sleep.result, /enough/);
});

Deno.test("deadline(35 days) aborts after 35 days, not after 1 ms or 2^31 ms", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const limit = deadline(35 * DAY, () => new TimeoutError("35 days are up"));
  await time.tickAsync(1);
  assert.equal(limit.signal.aborted, false, "not after 1 ms");
  await time.tickAsync(MAX_TIMER_DELAY);
  assert.equal(limit.signal.aborted, false, "not after 2^31 ms");
  await time.tickAsync(35 * DAY - MAX_TIMER_DELAY - 2);
  assert.equal(limit.signal.aborted, false, "not 1 ms early");
  await time.tickAsync(1);
  assert.equal(limit.signal.aborted, true);
  assert.ok(limit.signal.reason instanceof TimeoutError);
  limit.clear();
  assert.equal(time.countTimers(), 0);
});

Deno.test("deadline(35 days).clear() and deadline(Infinity) leave no pending timer", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const parent = new AbortController();
  const limit = deadline(35 * DAY, () => "late", parent.signal);
  await time.tickAsync(MAX_TIMER_DELAY + 1);
  assert.equal(time.countTimers(), 1);
  limit.clear();
  assert.equal(time.countTimers(), 0);
  await time.tickAsync(40 * DAY);
  assert.equal(limit.signal.aborted, false);

  const never = deadline(Infinity, () => "never", parent.signal);
  assert.equal(time.countTimers(), 0);
  await time.tickAsync(1_000 * DAY);
  assert.equal(never.signal.aborted, false);
  parent.abort("parent gone");
  assert.equal(never.signal.reason, "parent gone"); // still follows its parent
  never.clear();
});

Deno.test("setLongTimeout(..., Infinity) never fires and clear() works", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  let fired = 0;
  const timer = setLongTimeout(() => fired++, Infinity);
  assert.equal(time.countTimers(), 0);
  await time.tickAsync(10_000 * DAY);
  assert.equal(fired, 0);
  timer.clear();
  timer.clear(); // idempotent
  assert.equal(fired, 0);
});

Deno.test("setLongTimeout() recomputes the time left when each chunk fires", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const fired: number[] = [];
  const start = time.now;
  setLongTimeout(() => fired.push(time.now - start), MAX_TIMER_DELAY + 10);
  await time.tickAsync(MAX_TIMER_DELAY);
  assert.deepEqual(fired, []);
  assert.equal(time.countTimers(), 1); // re-armed for the 10 ms left, not for another chunk
  await time.tickAsync(9);
  assert.deepEqual(fired, []);
  await time.tickAsync(1);
  assert.deepEqual(fired, [MAX_TIMER_DELAY + 10]);
  assert.equal(time.countTimers(), 0);
});

Deno.test("setLongTimeout() honours a wall clock moved forward while it waits", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const fakeNow = Date.now;
  let fired = false;
  setLongTimeout(() => fired = true, 40 * DAY);
  try {
    Date.now = () => fakeNow() + 30 * DAY; // the system clock jumps 30 days ahead
    await time.tickAsync(MAX_TIMER_DELAY); // the first chunk sees that 40 days have passed
    assert.equal(fired, true);
    assert.equal(time.countTimers(), 0);
  } finally {
    Date.now = fakeNow;
  }
});

Deno.test("setLongTimeout() clear() cancels short and chunked timers alike", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  let fired = 0;
  const short = setLongTimeout(() => fired++, 1_000);
  const long = setLongTimeout(() => fired++, 50 * DAY);
  assert.equal(time.countTimers(), 2);
  short.clear();
  await time.tickAsync(2 * MAX_TIMER_DELAY + 3); // two chunks of the long timer have fired
  assert.equal(time.countTimers(), 1);
  long.clear();
  assert.equal(time.countTimers(), 0);
  await time.tickAsync(60 * DAY);
  assert.equal(fired, 0);
});

Deno.test("setLongTimeout() treats negative and NaN delays as 0, like setTimeout", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const fired: string[] = [];
  setLongTimeout(() => fired.push("negative"), -5);
  setLongTimeout(() => fired.push("NaN"), Number.NaN);
  await time.tickAsync(0);
  assert.deepEqual(fired, ["negative", "NaN"]);
});

type Step = "wait" | "done";

Deno.test("A task with a 35-day attemptTimeout is not timed out early", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const workflow = new Workflow<Step>()
    .register("wait", (ctx) =>
      new Promise<"done">((_, reject) => {
        ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason), { once: true });
      }), { config: { retry: RetryMode.none(), attemptTimeout: 35 * DAY } })
    .addExitState("done");
  const run = watch(workflow.orchestrate("wait"));
  await time.tickAsync(1_000);
  assert.equal(run.settled(), false, "still running after 1 s");
  await time.tickAsync(MAX_TIMER_DELAY);
  assert.equal(run.settled(), false, "still running after 2^31 ms");
  await time.tickAsync(35 * DAY - MAX_TIMER_DELAY - 1_000);
  assert.equal(run.settled(), true);
  const error = await run.result.catch((e) => e);
  assert.ok(error instanceof StateContextError);
  assert.equal(error.category, "timeout");
  assert.ok(error.cause instanceof TimeoutError);
  assert.match(error.cause.message, /attempt timeout of 3024000000 ms/);
  assert.equal(time.countTimers(), 0);
});

Deno.test("RetryMode.fixed(1, 40 days) waits the full 40 days before retrying", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  let calls = 0;
  const workflow = new Workflow<Step>()
    .register("wait", () => {
      calls += 1;
      if (calls === 1) throw new Error("not yet");
      return "done";
    }, { config: { retry: RetryMode.fixed(1, 40 * DAY) } })
    .addExitState("done");
  const run = watch(workflow.orchestrate("wait"));
  await time.tickAsync(1);
  assert.equal(calls, 1, "no retry after 1 ms");
  await time.tickAsync(MAX_TIMER_DELAY);
  assert.equal(calls, 1, "no retry after 2^31 ms");
  await time.tickAsync(40 * DAY - MAX_TIMER_DELAY - 2);
  assert.equal(calls, 1, "no retry 1 ms early");
  await time.tickAsync(1);
  assert.equal(calls, 2);
  assert.equal((await run.result).state, "done");
  assert.equal(time.countTimers(), 0);
});

Deno.test("An exponential backoff capped at 30 days waits 30 days", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  let calls = 0;
  const retry = RetryMode.exponential(1, { baseDelay: 30 * DAY, maxDelay: 30 * DAY, jitter: 0 });
  const workflow = new Workflow<Step>()
    .register("wait", () => {
      calls += 1;
      if (calls === 1) throw new Error("not yet");
      return "done";
    }, { config: { retry } })
    .addExitState("done");
  const run = watch(workflow.orchestrate("wait"));
  await time.tickAsync(MAX_TIMER_DELAY + 1);
  assert.equal(calls, 1);
  await time.tickAsync(30 * DAY - MAX_TIMER_DELAY - 1);
  assert.equal((await run.result).state, "done");
  assert.equal(calls, 2);
});

/** A context for calling a processing-model task's `run` directly. */
function context(signal = new AbortController().signal): TaskContext<Step> {
  return {
    state: "wait",
    data: undefined,
    resources: Resources.empty(),
    signal,
    attempt: 1,
    runId: "run-1",
  };
}

Deno.test("pollTask() sleeps a 35-day pending delay in full", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  let polls = 0;
  const task = pollTask<"done", Step>({
    poll: () => ++polls === 1 ? pending(35 * DAY) : ready("done"),
  });
  const run = watch(Promise.resolve(task.run(context())));
  await time.tickAsync(MAX_TIMER_DELAY + 1);
  assert.equal(polls, 1);
  await time.tickAsync(35 * DAY - MAX_TIMER_DELAY - 2);
  assert.equal(polls, 1);
  await time.tickAsync(1);
  assert.equal(await run.result, "done");
  assert.equal(polls, 2);
});

Deno.test("batchTask() item retries wait a 30-day delay in full and abort cleanly", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  let attempts = 0;
  const task = batchTask<number, number, Step, Step>({
    load: () => [1],
    processItem: (_ctx, n) => {
      attempts += 1;
      if (attempts === 1) throw new Error("flaky");
      return n;
    },
    finish: (_ctx, results) => results.every((r) => r.ok) ? "done" : "wait",
    itemRetry: RetryMode.fixed(1, 30 * DAY),
  });
  const run = watch(Promise.resolve(task.run(context())));
  await time.tickAsync(MAX_TIMER_DELAY + 1);
  assert.equal(attempts, 1);
  await time.tickAsync(30 * DAY - MAX_TIMER_DELAY - 1);
  assert.equal(await run.result, "done");
  assert.equal(attempts, 2);

  const controller = new AbortController();
  attempts = 0;
  const aborted = watch(Promise.resolve(task.run(context(controller.signal))));
  await time.tickAsync(MAX_TIMER_DELAY + 1);
  controller.abort(new Error("cancelled"));
  await assert.rejects(aborted.result, /cancelled/);
  assert.equal(time.countTimers(), 0);
});

Deno.test("WindowedRateLimiter with a 40-day window makes acquire() wait the full window", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const limiter = WindowedRateLimiter.perDays(1, 40);
  await limiter.acquire();
  const second = watch(limiter.acquire());
  await time.tickAsync(MAX_TIMER_DELAY + 1);
  assert.equal(second.settled(), false, "still waiting after 2^31 ms");
  await time.tickAsync(40 * DAY - MAX_TIMER_DELAY - 1);
  await second.result;
  assert.equal(second.settled(), true);
  assert.equal(time.countTimers(), 0);
});

Deno.test("CircuitBreaker stays open for a 35-day resetTimeout", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const breaker = new CircuitBreaker({ failureThreshold: 1, resetTimeout: 35 * DAY });
  breaker.tryAcquire().recordFailure();
  await time.tickAsync(MAX_TIMER_DELAY + 1);
  assert.throws(() => breaker.tryAcquire(), { category: "circuit_open" });
  await time.tickAsync(35 * DAY - MAX_TIMER_DELAY - 1);
  const trial = breaker.tryAcquire();
  assert.equal(breaker.state, "half_open");
  trial.recordSuccess();
  assert.equal(breaker.state, "closed");
  assert.equal(time.countTimers(), 0);
});

Deno.test("Workflow.withTotalTimeout(35 days) does not fire early", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const workflow = new Workflow<Step>()
    .register("wait", (ctx) =>
      new Promise<"done">((_, reject) => {
        ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason), { once: true });
      }), { config: { retry: RetryMode.none() } })
    .addExitState("done")
    .withTotalTimeout(35 * DAY);
  const run = watch(workflow.orchestrate("wait"));
  await time.tickAsync(1_000);
  assert.equal(run.settled(), false, "still running after 1 s");
  await time.tickAsync(MAX_TIMER_DELAY);
  assert.equal(run.settled(), false, "still running after 2^31 ms");
  await time.tickAsync(35 * DAY - MAX_TIMER_DELAY - 1_000);
  const error = await run.result.catch((e) => e);
  assert.ok(error instanceof StateContextError);
  assert.equal(error.category, "workflow_timeout");
  assert.equal(time.countTimers(), 0);
});

Deno.test("Workflow.registerSplit() with a 35-day join timeout waits for its branches", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const workflow = new Workflow<"fan" | "done" | "wait">()
    .registerSplit("fan", [{
      config: { retry: RetryMode.none() },
      run: () => delay(30 * DAY).then(() => "late"),
    }], { strategy: "all", next: "done", timeout: 35 * DAY })
    .addExitState("done");
  const run = watch(workflow.orchestrate("fan"));
  await time.tickAsync(MAX_TIMER_DELAY + 1_000);
  assert.equal(run.settled(), false, "the join timeout did not fire after 2^31 ms");
  await time.tickAsync(30 * DAY);
  assert.equal((await run.result).state, "done", "the branch finished at 30 days, in time");
  assert.equal(time.countTimers(), 0);
});
