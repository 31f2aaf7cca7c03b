import assert from "node:assert/strict";
import {
  CanoError,
  NonRetryableError,
  RetryExhaustedError,
  RetryMode,
  runWithRetries,
  TaskConfig,
  TimeoutError,
} from "../mod.ts";
import { FakeTime } from "../testing.ts";

Deno.test("RetryMode.exponential() follows cano's formula with jitter 0", () => {
  const mode = RetryMode.exponential(5, {
    baseDelay: 100,
    multiplier: 2,
    maxDelay: 1_000,
    jitter: 0,
  });
  assert.equal(mode.maxAttempts(), 6);
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5].map((k) => mode.delayForAttempt(k)),
    [100, 200, 400, 800, 1_000, undefined],
  );
});

Deno.test("RetryMode.exponential() applies jitter within ±jitter of the capped delay", () => {
  const mode = RetryMode.exponential(3, { baseDelay: 1_000, jitter: 0.5 });
  assert.equal(mode.delayForAttempt(0, () => 0), 500); // factor 1 - 0.5
  assert.equal(mode.delayForAttempt(0, () => 0.5), 1_000); // factor 1
  assert.equal(mode.delayForAttempt(0, () => 0.999_999), 1_499); // just under 1 + 0.5
});

Deno.test("RetryMode.exponential() sanitises multiplier and jitter like cano", () => {
  const flat = RetryMode.exponential(3, { baseDelay: 50, multiplier: -3, jitter: Number.NaN });
  assert.deepEqual([0, 1, 2].map((k) => flat.delayForAttempt(k)), [50, 50, 50]);
  const clamped = RetryMode.exponential(1, { baseDelay: 100, jitter: 7 });
  assert.equal(clamped.delayForAttempt(0, () => 0), 1); // jitter clamped to 1: floor of 1 ms
  const infinite = RetryMode.exponential(1, { baseDelay: 10, multiplier: Infinity });
  assert.equal(infinite.delayForAttempt(0, () => 0.5), 10);
});

Deno.test("RetryMode.exponential() keeps a zero base delay at zero", () => {
  const mode = RetryMode.exponential(2, { baseDelay: 0 });
  assert.equal(mode.delayForAttempt(0), 0);
  assert.equal(mode.delayForAttempt(1), 0);
});

Deno.test("RetryMode.exponential() caps huge exponents at maxDelay", () => {
  const mode = RetryMode.exponential(2_000, { baseDelay: 100, maxDelay: 30_000, jitter: 0 });
  assert.equal(mode.delayForAttempt(1_500), 30_000);
});

Deno.test("RetryMode.fixed() and none() count attempts", () => {
  assert.equal(RetryMode.none().maxAttempts(), 1);
  assert.equal(RetryMode.none().delayForAttempt(0), undefined);
  const fixed = RetryMode.fixed(2, 25);
  assert.equal(fixed.maxAttempts(), 3);
  assert.deepEqual([0, 1, 2].map((k) => fixed.delayForAttempt(k)), [25, 25, undefined]);
});

Deno.test("RetryMode factories reject invalid numbers with a ConfigurationError", () => {
  assert.throws(() => RetryMode.fixed(-1, 10), { category: "configuration" });
  assert.throws(() => RetryMode.fixed(1.5, 10), { category: "configuration" });
  assert.throws(() => RetryMode.fixed(1, -10), { category: "configuration" });
  assert.throws(() => RetryMode.fixed(1, Number.NaN), { category: "configuration" });
  assert.throws(() => RetryMode.exponential(2, { baseDelay: Infinity }), /baseDelay/);
  assert.throws(() => RetryMode.exponential(2, { maxDelay: -1 }), /maxDelay/);
});

Deno.test("TaskConfig.default() is exponential with three retries and no timeout", () => {
  const config = TaskConfig.default();
  assert.equal(config.retry?.maxAttempts(), 4);
  assert.equal(config.attemptTimeout, undefined);
  assert.deepEqual(config.retry?.policy, {
    kind: "exponential",
    retries: 3,
    baseDelay: 100,
    multiplier: 2,
    maxDelay: 30_000,
    jitter: 0.1,
  });
  assert.equal(TaskConfig.minimal().retry?.maxAttempts(), 1);
});

Deno.test("runWithRetries() sleeps the exact delays between attempts", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const started = time.now;
  const attemptsAt: number[] = [];
  const retries: Array<[number, number]> = [];
  const run = runWithRetries(
    { retry: RetryMode.exponential(3, { baseDelay: 100, jitter: 0 }) },
    ({ attempt }) => {
      attemptsAt.push(time.now - started);
      if (attempt < 4) throw new Error(`fail ${attempt}`);
      return "ok";
    },
    { onRetry: (attempt, delay) => retries.push([attempt, delay]) },
  );
  await time.tickAsync(100 + 200 + 400);
  assert.equal(await run, "ok");
  assert.deepEqual(attemptsAt, [0, 100, 300, 700]);
  assert.deepEqual(retries, [[1, 100], [2, 200], [3, 400]]);
});

Deno.test("runWithRetries() wraps the last error in RetryExhaustedError with the attempt count", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  let calls = 0;
  const run = runWithRetries({ retry: RetryMode.fixed(2, 10) }, () => {
    calls += 1;
    throw new Error(`boom ${calls}`);
  });
  const check = assert.rejects(run, (error: unknown) => {
    assert.ok(error instanceof RetryExhaustedError);
    assert.equal(error.attempts, 3);
    assert.equal(error.category, "retry_exhausted");
    assert.equal((error.cause as Error).message, "boom 3");
    return true;
  });
  await time.tickAsync(20);
  await check;
  assert.equal(calls, 3);
});

Deno.test("runWithRetries() throws the raw error when only one attempt is allowed", async () => {
  const error = new Error("once");
  await assert.rejects(
    runWithRetries(TaskConfig.minimal(), () => {
      throw error;
    }),
    (thrown) => thrown === error,
  );
});

Deno.test("runWithRetries() never retries a NonRetryableError", async () => {
  let calls = 0;
  await assert.rejects(
    runWithRetries({ retry: RetryMode.fixed(5, 0) }, () => {
      calls += 1;
      throw new NonRetryableError("declined");
    }),
    NonRetryableError,
  );
  assert.equal(calls, 1);
});

Deno.test("runWithRetries() retries only what retryIf accepts", async () => {
  let calls = 0;
  const permanent = new Error("permanent");
  await assert.rejects(
    runWithRetries(
      { retry: RetryMode.fixed(5, 0), retryIf: (e) => (e as Error).message === "transient" },
      () => {
        calls += 1;
        throw calls < 3 ? new Error("transient") : permanent;
      },
    ),
    (thrown) => thrown === permanent,
  );
  assert.equal(calls, 3);
});

Deno.test("runWithRetries() times out each attempt through its signal, then exhausts", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const aborted: unknown[] = [];
  const run = runWithRetries(
    { retry: RetryMode.fixed(1, 5), attemptTimeout: 50 },
    ({ signal }) =>
      new Promise<string>(() => {
        signal.addEventListener("abort", () => aborted.push(signal.reason));
      }),
  );
  const check = assert.rejects(run, (error: unknown) => {
    assert.ok(error instanceof RetryExhaustedError);
    assert.equal(error.attempts, 2);
    assert.ok(error.cause instanceof TimeoutError);
    assert.match(error.cause.message, /50 ms/);
    return true;
  });
  await time.tickAsync(50 + 5 + 50);
  await check;
  assert.equal(aborted.length, 2);
  assert.ok(aborted.every((reason) => reason instanceof TimeoutError));
});

Deno.test("runWithRetries() succeeds on a retry after an attempt timeout", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const run = runWithRetries(
    { retry: RetryMode.fixed(1, 0), attemptTimeout: 20 },
    ({ attempt }) => attempt === 1 ? new Promise<string>(() => {}) : "second",
  );
  await time.tickAsync(20);
  assert.equal(await run, "second");
});

Deno.test("runWithRetries() aborts the backoff sleep with the signal's reason", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const controller = new AbortController();
  let calls = 0;
  const run = runWithRetries({ retry: RetryMode.fixed(3, 10_000) }, () => {
    calls += 1;
    throw new Error("fail");
  }, { signal: controller.signal });
  const check = assert.rejects(run, (reason) => reason === "stop");
  await time.tickAsync(1_000);
  controller.abort("stop");
  await check;
  assert.equal(calls, 1);
});

Deno.test("runWithRetries() rejects a bad config with a ConfigurationError", async () => {
  await assert.rejects(runWithRetries({ attemptTimeout: 0 }, () => 1), CanoError);
  await assert.rejects(
    runWithRetries({ retry: "often" as unknown as RetryMode }, () => 1),
    { category: "configuration" },
  );
});
