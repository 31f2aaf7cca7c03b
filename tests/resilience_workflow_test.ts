import assert from "node:assert/strict";
import {
  CircuitBreaker,
  CircuitOpenError,
  RateLimiter,
  RetryMode,
  StateContextError,
  TaskConfig,
  Workflow,
} from "../mod.ts";
import { FakeTime } from "../testing.ts";

type Step = "a" | "b" | "done";

Deno.test("TaskConfig.circuitBreaker shared by two tasks trips for both", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const breaker = new CircuitBreaker({ failureThreshold: 2, resetTimeout: 10_000 });
  let aCalls = 0;
  let bCalls = 0;
  const config: TaskConfig = { retry: RetryMode.none(), circuitBreaker: breaker };
  const a = new Workflow<Step>()
    .register("a", () => {
      aCalls += 1;
      throw new Error("upstream down");
    }, { config })
    .addExitState("done");
  const b = new Workflow<Step>()
    .register("b", () => {
      bCalls += 1;
      return "done";
    }, { config })
    .addExitState("done");
  await assert.rejects(a.orchestrate("a"), /upstream down/);
  await assert.rejects(a.orchestrate("a"), /upstream down/);
  assert.equal(breaker.state, "open");
  const events: string[] = [];
  b.addEventListener("circuitopen", (e) => events.push(`circuitopen:${e.taskId}`));
  b.addEventListener("taskfailure", (e) => events.push(`taskfailure:${(e.error as Error).name}`));
  await assert.rejects(b.orchestrate("b"), (error: unknown) => {
    assert.ok(error instanceof StateContextError);
    assert.equal(error.category, "circuit_open");
    assert.equal(error.attempt, 0);
    assert.ok(error.cause instanceof CircuitOpenError);
    return true;
  });
  assert.equal(bCalls, 0, "the open breaker rejected task b without running it");
  assert.deepEqual(events, ["circuitopen:b", "taskfailure:CircuitOpenError"]);
  await time.tickAsync(10_000);
  assert.equal((await b.orchestrate("b")).state, "done", "a half-open trial succeeds");
  assert.equal(breaker.state, "closed");
  assert.equal(aCalls, 2);
});

Deno.test("TaskConfig.circuitBreaker rejects mid-retry without consuming retries or wrapping", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const breaker = new CircuitBreaker({ failureThreshold: 2, resetTimeout: 60_000 });
  let calls = 0;
  const workflow = new Workflow<Step>()
    .register("a", () => {
      calls += 1;
      throw new Error("flaky");
    }, { config: { retry: RetryMode.fixed(5, 10), circuitBreaker: breaker } })
    .addExitState("done");
  const check = assert.rejects(workflow.orchestrate("a"), (error: unknown) => {
    assert.ok(error instanceof StateContextError);
    assert.ok(error.cause instanceof CircuitOpenError, "raw CircuitOpenError, not RetryExhausted");
    return true;
  });
  await time.tickAsync(100);
  await check;
  assert.equal(calls, 2, "the third attempt was refused by the breaker");
});

Deno.test("TaskConfig.circuitBreaker counts an attempt timeout as a failure", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const breaker = new CircuitBreaker({ failureThreshold: 1 });
  const workflow = new Workflow<Step>()
    .register(
      "a",
      (ctx) =>
        new Promise<"done">((_, reject) =>
          ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason))
        ),
      { config: { retry: RetryMode.none(), attemptTimeout: 50, circuitBreaker: breaker } },
    )
    .addExitState("done");
  const check = assert.rejects(workflow.orchestrate("a"), { category: "timeout" });
  await time.tickAsync(50);
  await check;
  assert.equal(breaker.state, "open");
});

Deno.test("TaskConfig.rateLimiter keeps a looping workflow within the configured rate", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const start = time.now;
  const limiter = new RateLimiter({ maxTokens: 2, tokensPerPeriod: 2, refillPeriod: 1_000 });
  const calls: number[] = [];
  const workflow = new Workflow<Step, { n: number }>()
    .register("a", (ctx) => {
      calls.push(time.now - start);
      return ++ctx.data.n >= 10 ? "done" : "a";
    }, { config: { retry: RetryMode.none(), rateLimiter: limiter } })
    .addExitState("done");
  const run = workflow.orchestrate("a", { data: { n: 0 } });
  await time.tickAsync(5_000);
  assert.equal((await run).state, "done");
  assert.equal(calls.length, 10);
  // The bucket starts full (2 calls at once), then refills one token every 500 ms.
  assert.deepEqual(calls, [0, 0, 500, 1_000, 1_500, 2_000, 2_500, 3_000, 3_500, 4_000]);
});

Deno.test("TaskConfig.rateLimiter wait is abortable by the run's signal", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const limiter = new RateLimiter({ maxTokens: 1, tokensPerPeriod: 1, refillPeriod: 60_000 });
  limiter.tryAcquire();
  const controller = new AbortController();
  let ran = false;
  const workflow = new Workflow<Step>()
    .register("a", () => {
      ran = true;
      return "done";
    }, { config: { ...TaskConfig.minimal(), rateLimiter: limiter } })
    .addExitState("done");
  const run = workflow.orchestrate("a", { signal: controller.signal });
  await time.tickAsync(1_000);
  controller.abort();
  await assert.rejects(run, { category: "cancelled" });
  assert.equal(ran, false);
});

Deno.test("TaskConfig.rateLimiter wait counts toward the attempt timeout only when asked", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const limiter = new RateLimiter({ maxTokens: 1, tokensPerPeriod: 1, refillPeriod: 1_000 });
  const build = (counts: boolean) =>
    new Workflow<Step>()
      .register("a", () => "done", {
        config: {
          retry: RetryMode.none(),
          attemptTimeout: 500,
          rateLimiter: limiter,
          rateLimitCountsTowardTimeout: counts,
        },
      })
      .addExitState("done");
  limiter.tryAcquire();
  const patient = build(false).orchestrate("a");
  await time.tickAsync(1_000);
  assert.equal((await patient).state, "done", "the 1 s wait is outside the 500 ms timeout");
  limiter.tryAcquire();
  const strict = assert.rejects(build(true).orchestrate("a"), { category: "timeout" });
  await time.tickAsync(500);
  await strict;
  await time.tickAsync(1_000);
});
