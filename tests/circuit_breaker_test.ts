import assert from "node:assert/strict";
import {
  CircuitBreaker,
  CircuitOpenError,
  type CircuitPermit,
  type CircuitTransitionEvent,
  ConfigurationError,
} from "../mod.ts";
import { FakeTime } from "../testing.ts";

const OPEN_MESSAGE = "Circuit breaker open: rejecting call";
const EXHAUSTED_MESSAGE = "Circuit breaker half-open: trial slot exhausted";

function trip(breaker: CircuitBreaker, failures: number): void {
  for (let i = 0; i < failures; i++) breaker.tryAcquire().recordFailure();
}

function transitions(breaker: CircuitBreaker): string[] {
  const seen: string[] = [];
  breaker.addEventListener("circuittransition", (e: CircuitTransitionEvent) => {
    seen.push(`${e.from}->${e.to}`);
  });
  return seen;
}

Deno.test("new CircuitBreaker() fills in cano's defaults and starts closed", () => {
  const breaker = new CircuitBreaker();
  assert.deepEqual(breaker.policy, {
    failureThreshold: 5,
    resetTimeout: 30_000,
    halfOpenMaxCalls: 1,
  });
  assert.equal(breaker.state, "closed");
  assert.equal(breaker.openUntil, undefined);
});

Deno.test("new CircuitBreaker() rejects invalid policies with a ConfigurationError naming the value", () => {
  const cases: [Record<string, number>, RegExp][] = [
    [{ failureThreshold: 0 }, /failureThreshold must be a positive integer, got 0/],
    [{ failureThreshold: 1.5 }, /failureThreshold .* got 1\.5/],
    [{ failureThreshold: Number.NaN }, /failureThreshold .* got NaN/],
    [{ resetTimeout: -1 }, /resetTimeout .* got -1/],
    [{ resetTimeout: Infinity }, /resetTimeout .* got Infinity/],
    [{ halfOpenMaxCalls: 0 }, /halfOpenMaxCalls must be an integer from 1 to 2147483647, got 0/],
    [{ halfOpenMaxCalls: 2 ** 31 }, /halfOpenMaxCalls .* got 2147483648/],
  ];
  for (const [policy, message] of cases) {
    assert.throws(() => new CircuitBreaker(policy), (error) => {
      assert.ok(error instanceof ConfigurationError);
      assert.match(error.message, message);
      return true;
    });
  }
  // resetTimeout 0 is valid: the next acquire after a trip is already a trial.
  new CircuitBreaker({ resetTimeout: 0 });
});

Deno.test("CircuitBreaker stays closed below the threshold and a success resets the count", () => {
  const breaker = new CircuitBreaker({ failureThreshold: 3 });
  trip(breaker, 2);
  breaker.tryAcquire().recordSuccess();
  trip(breaker, 2);
  assert.equal(breaker.state, "closed");
  trip(breaker, 1);
  assert.equal(breaker.state, "open");
});

Deno.test("CircuitBreaker opens at the failure threshold and rejects until the reset timeout", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const breaker = new CircuitBreaker({ failureThreshold: 2, resetTimeout: 1_000 });
  const seen = transitions(breaker);
  trip(breaker, 2);
  assert.equal(breaker.state, "open");
  assert.equal(breaker.openUntil?.getTime(), time.now + 1_000);
  assert.deepEqual(seen, ["closed->open"]);

  assert.throws(() => breaker.tryAcquire(), (error) => {
    assert.ok(error instanceof CircuitOpenError);
    assert.equal(error.message, OPEN_MESSAGE);
    assert.equal(error.category, "circuit_open");
    return true;
  });
  await time.tickAsync(999);
  assert.throws(() => breaker.tryAcquire(), { message: OPEN_MESSAGE });
  assert.deepEqual(seen, ["closed->open"]);
});

Deno.test("CircuitBreaker.state does not perform the lazy open → half-open transition", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const breaker = new CircuitBreaker({ failureThreshold: 1, resetTimeout: 100 });
  const seen = transitions(breaker);
  trip(breaker, 1);
  await time.tickAsync(5_000);
  assert.equal(breaker.state, "open");
  assert.ok(breaker.openUntil !== undefined);
  const trial = breaker.tryAcquire();
  assert.equal(breaker.state, "half_open");
  assert.equal(breaker.openUntil, undefined);
  assert.deepEqual(seen, ["closed->open", "open->half_open"]);
  trial.recordSuccess();
});

Deno.test("CircuitBreaker half-open admits exactly halfOpenMaxCalls trials at once", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const breaker = new CircuitBreaker({
    failureThreshold: 1,
    resetTimeout: 100,
    halfOpenMaxCalls: 2,
  });
  trip(breaker, 1);
  await time.tickAsync(100);
  const first = breaker.tryAcquire();
  const second = breaker.tryAcquire();
  assert.throws(() => breaker.tryAcquire(), (error) => {
    assert.ok(error instanceof CircuitOpenError);
    assert.equal(error.message, EXHAUSTED_MESSAGE);
    return true;
  });
  // A finished trial frees its slot; the breaker closes only after two successes.
  first.recordSuccess();
  assert.equal(breaker.state, "half_open");
  const third = breaker.tryAcquire();
  assert.throws(() => breaker.tryAcquire(), { message: EXHAUSTED_MESSAGE });
  second.recordSuccess();
  assert.equal(breaker.state, "closed");
  third.recordSuccess(); // stale now: the close started a new epoch
  assert.equal(breaker.state, "closed");
});

Deno.test("CircuitBreaker half-open closes after halfOpenMaxCalls successes", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const breaker = new CircuitBreaker({
    failureThreshold: 2,
    resetTimeout: 100,
    halfOpenMaxCalls: 3,
  });
  const seen = transitions(breaker);
  trip(breaker, 2);
  await time.tickAsync(100);
  for (let i = 0; i < 3; i++) {
    assert.equal(breaker.state, i === 0 ? "open" : "half_open");
    breaker.tryAcquire().recordSuccess();
  }
  assert.equal(breaker.state, "closed");
  assert.deepEqual(seen, ["closed->open", "open->half_open", "half_open->closed"]);
  // The failure count starts from zero again.
  trip(breaker, 1);
  assert.equal(breaker.state, "closed");
});

Deno.test("CircuitBreaker half-open failure re-opens at once with a fresh timeout", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const breaker = new CircuitBreaker({
    failureThreshold: 1,
    resetTimeout: 1_000,
    halfOpenMaxCalls: 2,
  });
  const events: CircuitTransitionEvent[] = [];
  breaker.addEventListener("circuittransition", (e) => events.push(e));
  trip(breaker, 1);
  await time.tickAsync(1_500);
  const trial = breaker.tryAcquire();
  breaker.tryAcquire().recordSuccess();
  await time.tickAsync(250);
  trial.recordFailure();
  assert.equal(breaker.state, "open");
  assert.equal(breaker.openUntil?.getTime(), time.now + 1_000);
  const last = events.at(-1);
  assert.equal(`${last?.from}->${last?.to}`, "half_open->open");
  assert.equal(last?.openUntil?.getTime(), time.now + 1_000);
  await time.tickAsync(999);
  assert.throws(() => breaker.tryAcquire(), { message: OPEN_MESSAGE });
  await time.tickAsync(1);
  breaker.tryAcquire().recordSuccess();
  breaker.tryAcquire().recordSuccess();
  assert.equal(breaker.state, "closed");
});

Deno.test("CircuitBreaker ignores outcomes of permits from an earlier epoch", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const breaker = new CircuitBreaker({
    failureThreshold: 2,
    resetTimeout: 100,
    halfOpenMaxCalls: 1,
  });
  // Two slow calls admitted while closed straddle the trip and the move to half-open.
  const slowSuccess = breaker.tryAcquire();
  const slowFailure = breaker.tryAcquire();
  trip(breaker, 2);
  await time.tickAsync(100);
  const trial = breaker.tryAcquire(); // half-open, a new epoch
  slowSuccess.recordSuccess(); // would close the breaker if counted
  assert.equal(breaker.state, "half_open");
  slowFailure.recordFailure(); // would re-open it if counted
  assert.equal(breaker.state, "half_open");
  assert.throws(() => breaker.tryAcquire(), { message: EXHAUSTED_MESSAGE }); // slot not freed
  assert.equal(slowSuccess.settled, true);

  // A trial that straddles a re-open cannot fail the next session either.
  trial.recordFailure();
  await time.tickAsync(100);
  const nextTrial = breaker.tryAcquire();
  breaker.recordFailure(trial); // already settled: ignored
  nextTrial.recordSuccess();
  assert.equal(breaker.state, "closed");
});

Deno.test("CircuitBreaker counts a permit disposed without an outcome as a failure", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const breaker = new CircuitBreaker({ failureThreshold: 2, resetTimeout: 100 });
  const attempt = (fail: boolean): void => {
    using permit = breaker.tryAcquire();
    if (fail) throw new Error("boom"); // no outcome recorded: disposal records a failure
    permit.recordSuccess();
  };
  attempt(false);
  assert.throws(() => attempt(true), /boom/);
  assert.equal(breaker.state, "closed");
  assert.throws(() => attempt(true), /boom/);
  assert.equal(breaker.state, "open");

  // In half-open, a dropped trial re-opens the breaker and frees nothing for later.
  await time.tickAsync(100);
  {
    using _trial = breaker.tryAcquire();
  }
  assert.equal(breaker.state, "open");

  // Disposal after an outcome is a no-op.
  await time.tickAsync(100);
  {
    using trial = breaker.tryAcquire();
    trial.recordSuccess();
  }
  assert.equal(breaker.state, "closed");
});

Deno.test("CircuitBreaker counts only the first outcome of a permit", () => {
  const breaker = new CircuitBreaker({ failureThreshold: 1 });
  const permit = breaker.tryAcquire();
  permit.recordSuccess();
  permit.recordFailure();
  breaker.recordFailure(permit);
  permit[Symbol.dispose]();
  assert.equal(breaker.state, "closed");
});

Deno.test("CircuitBreaker.recordSuccess() refuses a permit from another breaker", () => {
  const a = new CircuitBreaker();
  const b = new CircuitBreaker();
  assert.throws(() => b.recordSuccess(a.tryAcquire()), {
    name: "ConfigurationError",
    message:
      /^Circuit permit was not issued by this circuit breaker: settle a permit on the breaker/,
  });
  const forged: CircuitPermit = {
    settled: false,
    recordSuccess() {},
    recordFailure() {},
    [Symbol.dispose]() {},
  };
  assert.throws(() => a.recordFailure(forged), ConfigurationError);
});

Deno.test("CircuitBreaker with resetTimeout 0 goes half-open on the next acquire", () => {
  const breaker = new CircuitBreaker({ failureThreshold: 1, resetTimeout: 0 });
  trip(breaker, 1);
  assert.equal(breaker.state, "open");
  breaker.tryAcquire().recordSuccess();
  assert.equal(breaker.state, "closed");
});

Deno.test("CircuitBreaker.call() records outcomes and short-circuits when open", async () => {
  const breaker = new CircuitBreaker({ failureThreshold: 2 });
  assert.equal(await breaker.call(() => "sync value"), "sync value");
  await assert.rejects(breaker.call(() => Promise.reject(new Error("503"))), /503/);
  await assert.rejects(
    breaker.call(() => {
      throw new Error("sync throw");
    }),
    /sync throw/,
  );
  assert.equal(breaker.state, "open");
  let called = false;
  await assert.rejects(
    breaker.call(() => {
      called = true;
    }),
    CircuitOpenError,
  );
  assert.equal(called, false);
});

Deno.test("CircuitBreaker survives a throwing circuittransition listener", () => {
  const breaker = new CircuitBreaker({ failureThreshold: 1 });
  const errors: unknown[] = [];
  breaker.addEventListener("listenererror", (e) => errors.push(e.error));
  breaker.addEventListener("circuittransition", () => {
    throw new Error("bad listener");
  });
  const originalError = console.error;
  console.error = () => {};
  try {
    trip(breaker, 1);
  } finally {
    console.error = originalError;
  }
  assert.equal(breaker.state, "open");
  assert.equal(errors.length, 1);
});
