import assert from "node:assert/strict";
import {
  ConfigurationError,
  type Limiter,
  type Meter,
  type MeterStatus,
  MultiRateLimiter,
  RateLimitedError,
  RateLimiter,
  WindowedRateLimiter,
} from "../mod.ts";
import { FakeTime } from "../testing.ts";

/** Resolves with the fake time at which `promise` settled, once `tick` has run past it. */
function settledAt(promise: Promise<unknown>): { at: number | undefined; error: unknown } {
  const state: { at: number | undefined; error: unknown } = { at: undefined, error: undefined };
  promise.then(
    () => state.at = Date.now(),
    (error) => {
      state.at = Date.now();
      state.error = error;
    },
  );
  return state;
}

function assertConfigurationError(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (error) => {
    assert.ok(error instanceof ConfigurationError, String(error));
    assert.match(error.message, message);
    return true;
  });
}

// --- Token bucket -----------------------------------------------------------------------------

Deno.test("new RateLimiter() rejects invalid policies with a ConfigurationError naming the value", () => {
  assertConfigurationError(
    () => new RateLimiter({ maxTokens: 0, refillPeriod: 1_000 }),
    /maxTokens must be a positive integer, got 0/,
  );
  assertConfigurationError(
    () => new RateLimiter({ maxTokens: 2.5, refillPeriod: 1_000 }),
    /maxTokens .* got 2\.5/,
  );
  assertConfigurationError(
    () => new RateLimiter({ maxTokens: 1, tokensPerPeriod: 0, refillPeriod: 1_000 }),
    /tokensPerPeriod must be a positive integer, got 0/,
  );
  for (const refillPeriod of [0, -5, Number.NaN, Infinity]) {
    assertConfigurationError(
      () => new RateLimiter({ maxTokens: 1, refillPeriod }),
      new RegExp(`refillPeriod must be a positive number of milliseconds, got ${refillPeriod}`),
    );
  }
  assertConfigurationError(
    () => new RateLimiter({ maxTokens: 1, refillPeriod: 1, burst: -1 }),
    /burst must be a non-negative integer, got -1/,
  );
  assertConfigurationError(() => RateLimiter.perSecond(0), /maxTokens .* got 0/);
});

Deno.test("RateLimiter rejects invalid costs with a ConfigurationError", async () => {
  const limiter = RateLimiter.perSecond(5);
  for (const cost of [-1, 1.5, Number.NaN, Infinity]) {
    assertConfigurationError(
      () => limiter.tryAcquire(cost),
      new RegExp(`cost must be a non-negative integer, got ${cost}`),
    );
    assertConfigurationError(() => limiter.tryReserve(cost), /cost must be/);
    assertConfigurationError(() => limiter.timeUntil(cost), /cost must be/);
    await assert.rejects(limiter.acquire(cost), ConfigurationError);
  }
  assert.equal(limiter.tokensAvailable, 5);
});

Deno.test("RateLimiter starts full at maxTokens + burst", () => {
  using _time = new FakeTime(Date.UTC(2026, 0, 1));
  const limiter = new RateLimiter({ maxTokens: 4, refillPeriod: 1_000, burst: 2 });
  assert.equal(limiter.capacity, 6);
  assert.equal(limiter.tokensAvailable, 6);
  assert.deepEqual(limiter.policy, {
    maxTokens: 4,
    tokensPerPeriod: 4,
    refillPeriod: 1_000,
    burst: 2,
  });
  assert.equal(limiter.tryAcquire(6), true);
  assert.equal(limiter.tryAcquire(), false);
});

Deno.test("RateLimiter refills tokensPerPeriod / refillPeriod, accruing fractions", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const limiter = new RateLimiter({ maxTokens: 10, tokensPerPeriod: 2, refillPeriod: 1_000 });
  assert.equal(limiter.tryAcquire(10), true);
  assert.equal(limiter.timeUntil(1), 500);
  assert.equal(limiter.timeUntil(3), 1_500);
  await time.tickAsync(250);
  assert.equal(limiter.tokensAvailable, 0); // half a token
  assert.equal(limiter.tryAcquire(), false);
  assert.equal(limiter.timeUntil(1), 250);
  await time.tickAsync(249);
  assert.equal(limiter.tokensAvailable, 0);
  await time.tickAsync(1);
  assert.equal(limiter.tokensAvailable, 1);
  assert.equal(limiter.tryAcquire(), true);
  // Uneven rates stay exact: 3 tokens per 1 000 ms → one token after ceil(1000 / 3) ms.
  const odd = new RateLimiter({ maxTokens: 3, refillPeriod: 1_000 });
  odd.tryAcquire(3);
  assert.equal(odd.timeUntil(1), 334);
  await time.tickAsync(333);
  assert.equal(odd.tryAcquire(), false);
  await time.tickAsync(1);
  assert.equal(odd.tryAcquire(), true);
  await time.tickAsync(666);
  assert.equal(odd.tokensAvailable, 2); // 1 000 ms refilled exactly 3 tokens in total
});

Deno.test("RateLimiter caps the refill at the capacity", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const limiter = RateLimiter.perSecond(5, { burst: 3 });
  limiter.tryAcquire(8);
  await time.tickAsync(60_000);
  assert.equal(limiter.tokensAvailable, 8);
  assert.equal(limiter.tryAcquire(8), true);
  assert.equal(limiter.tryAcquire(), false);
  // The burst adds capacity, not rate: 8 tokens take 1.6 s to come back.
  assert.equal(limiter.timeUntil(8), 1_600);
});

Deno.test("RateLimiter admits cost 0 always and refuses a cost above the capacity", async () => {
  using _time = new FakeTime(Date.UTC(2026, 0, 1));
  const limiter = new RateLimiter({ maxTokens: 2, refillPeriod: 1_000, burst: 1 });
  limiter.tryAcquire(3);
  assert.equal(limiter.tryAcquire(0), true);
  assert.equal(limiter.timeUntil(0), 0);
  assert.notEqual(limiter.tryReserve(0), undefined);
  await limiter.acquire(0);

  assert.equal(limiter.tryAcquire(4), false);
  assert.equal(limiter.timeUntil(4), Infinity);
  assert.equal(limiter.tryReserve(4), undefined);
  await assert.rejects(limiter.acquire(4), (error) => {
    assert.ok(error instanceof ConfigurationError);
    assert.equal(
      error.message,
      "Rate limiter cost 4 exceeds its capacity of 3 tokens and can never be admitted",
    );
    return true;
  });
});

Deno.test("RateLimiter.acquire() sleeps exactly the refill deficit", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const start = time.now;
  const limiter = RateLimiter.perSecond(5); // one token per 200 ms
  limiter.tryAcquire(5);
  const first = settledAt(limiter.acquire(2));
  await time.tickAsync(399);
  assert.equal(first.at, undefined);
  await time.tickAsync(1);
  assert.equal(first.at, start + 400);
  assert.equal(limiter.tokensAvailable, 0);
  // Two waiters: the second one re-computes its deficit after losing the race.
  const a = settledAt(limiter.acquire());
  const b = settledAt(limiter.acquire());
  await time.tickAsync(1_000);
  assert.equal(a.at, start + 600);
  assert.equal(b.at, start + 800);
});

Deno.test("RateLimiter.acquire() rejects with the signal's reason when aborted", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const limiter = new RateLimiter({ maxTokens: 1, refillPeriod: 10_000 });
  const controller = new AbortController();
  const reason = new Error("stop waiting");
  const pre = new AbortController();
  pre.abort(reason);
  // An aborted signal is refused even when tokens are available, and takes nothing.
  await assert.rejects(limiter.acquire(1, { signal: pre.signal }), (e) => e === reason);
  assert.equal(limiter.tokensAvailable, 1);

  limiter.tryAcquire();
  const waiting = limiter.acquire(1, { signal: controller.signal });
  await time.tickAsync(5_000);
  controller.abort(reason);
  await assert.rejects(waiting, (e) => e === reason);
  await time.tickAsync(10_000);
  assert.equal(limiter.tokensAvailable, 1); // the aborted waiter took nothing
});

Deno.test("RateLimiter.tryReserve() refunds unless committed", () => {
  using _time = new FakeTime(Date.UTC(2026, 0, 1));
  const limiter = new RateLimiter({ maxTokens: 5, refillPeriod: 60_000 });
  {
    using reservation = limiter.tryReserve(3)!;
    assert.equal(reservation.cost, 3);
    assert.equal(reservation.state, "pending");
    assert.equal(limiter.tokensAvailable, 2);
    assert.equal(limiter.tryReserve(3), undefined);
  }
  assert.equal(limiter.tokensAvailable, 5);
  {
    using reservation = limiter.tryReserve(2)!;
    reservation.commit();
    assert.equal(reservation.state, "committed");
    assert.equal(reservation.refund(), false);
  }
  assert.equal(limiter.tokensAvailable, 3);
  const explicit = limiter.tryReserve(1)!;
  assert.equal(explicit.refund(), true);
  assert.equal(explicit.state, "refunded");
  assert.equal(explicit.refund(), false); // only once
  explicit.commit(); // no effect after the refund
  assert.equal(explicit.state, "refunded");
  assert.equal(limiter.tokensAvailable, 3);
});

Deno.test("RateLimiter refunds are capped at the capacity", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const limiter = new RateLimiter({ maxTokens: 4, refillPeriod: 100 });
  const reservation = limiter.tryReserve(4)!;
  await time.tickAsync(100); // the bucket refilled meanwhile
  assert.equal(reservation.refund(), true);
  assert.equal(limiter.tokensAvailable, 4);
  assert.equal(limiter.tryAcquire(5), false);
});

Deno.test("RateLimiter.snapshot() reports usage without a reset time", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const limiter = new RateLimiter({ maxTokens: 4, tokensPerPeriod: 1, refillPeriod: 100 });
  limiter.tryAcquire(3);
  const status: MeterStatus = limiter.snapshot();
  assert.deepEqual(status, { used: 3, limit: 4, availableIn: 0, resetsAt: undefined });
  limiter.tryAcquire();
  assert.equal(limiter.snapshot().availableIn, 100);
  await time.tickAsync(150);
  assert.equal(limiter.snapshot().used, 3);
});

// --- Fixed window ------------------------------------------------------------------------------

Deno.test("new WindowedRateLimiter() rejects invalid policies with a ConfigurationError", () => {
  assertConfigurationError(
    () => new WindowedRateLimiter({ limit: 0, window: 1_000 }),
    /limit must be a positive integer, got 0/,
  );
  assertConfigurationError(
    () => new WindowedRateLimiter({ limit: 1, window: 0 }),
    /window must be a positive number of milliseconds, got 0/,
  );
  assertConfigurationError(() => WindowedRateLimiter.perHours(1, -1), /got -3600000/);
  assertConfigurationError(() => WindowedRateLimiter.perDays(1, Infinity), /got Infinity/);
  assert.deepEqual(WindowedRateLimiter.perHours(10, 2).policy, { limit: 10, window: 7_200_000 });
  assert.deepEqual(WindowedRateLimiter.perDays(10, 1).policy, { limit: 10, window: 86_400_000 });
  const limiter = new WindowedRateLimiter({ limit: 1, window: 1 });
  assertConfigurationError(() => limiter.tryAcquire(-1), /cost must be a non-negative integer/);
});

Deno.test("WindowedRateLimiter resets lazily; the new window starts at that access", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const start = time.now;
  const limiter = new WindowedRateLimiter({ limit: 3, window: 1_000 });
  assert.equal(limiter.resetsAt.getTime(), start + 1_000);
  assert.equal(limiter.tryAcquire(3), true);
  assert.equal(limiter.tryAcquire(), false);
  assert.equal(limiter.used, 3);
  assert.equal(limiter.remaining, 0);
  await time.tickAsync(400);
  assert.equal(limiter.timeUntil(1), 600);
  await time.tickAsync(599);
  assert.equal(limiter.tryAcquire(), false);
  assert.equal(limiter.timeUntil(1), 1);

  // Elapsed, not yet reset: the getters already report the fresh window.
  await time.tickAsync(501); // t = 1 500
  assert.equal(limiter.used, 0);
  assert.equal(limiter.remaining, 3);
  assert.equal(limiter.timeUntil(3), 0);
  assert.equal(limiter.resetsAt.getTime(), start + 2_500);
  await time.tickAsync(200); // t = 1 700: the reset happens at this access
  assert.equal(limiter.tryAcquire(2), true);
  assert.equal(limiter.resetsAt.getTime(), start + 2_700);
  await time.tickAsync(999);
  assert.equal(limiter.tryAcquire(2), false);
  await time.tickAsync(1);
  assert.equal(limiter.tryAcquire(2), true);
});

Deno.test("WindowedRateLimiter admits cost 0 always and refuses a cost above the limit", async () => {
  using _time = new FakeTime(Date.UTC(2026, 0, 1));
  const limiter = new WindowedRateLimiter({ limit: 2, window: 1_000 });
  limiter.tryAcquire(2);
  assert.equal(limiter.tryAcquire(0), true);
  await limiter.acquire(0);
  assert.equal(limiter.tryAcquire(3), false);
  assert.equal(limiter.timeUntil(3), Infinity);
  await assert.rejects(
    limiter.acquire(3),
    {
      name: "ConfigurationError",
      message:
        "Windowed rate limiter cost 3 exceeds its limit of 2 per window and can never be admitted",
    },
  );
});

Deno.test("WindowedRateLimiter.acquire() waits for the reset and is abortable", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const start = time.now;
  const limiter = new WindowedRateLimiter({ limit: 2, window: 1_000 });
  limiter.tryAcquire(2);
  await time.tickAsync(300);
  const waiter = settledAt(limiter.acquire(2));
  await time.tickAsync(699);
  assert.equal(waiter.at, undefined);
  await time.tickAsync(1);
  assert.equal(waiter.at, start + 1_000);
  assert.equal(limiter.used, 2);

  const controller = new AbortController();
  const aborted = settledAt(limiter.acquire(1, { signal: controller.signal }));
  await time.tickAsync(10);
  controller.abort("cancelled by test");
  await time.tickAsync(0);
  assert.equal(aborted.error, "cancelled by test");
  assert.equal(limiter.used, 2);
});

Deno.test("WindowedRateLimiter reservations refund within the window, not after it rolled", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const limiter = new WindowedRateLimiter({ limit: 3, window: 1_000 });
  {
    using _dropped = limiter.tryReserve(2)!;
    assert.equal(limiter.used, 2);
  }
  assert.equal(limiter.used, 0);

  const stale = limiter.tryReserve(2)!;
  await time.tickAsync(1_000);
  assert.equal(limiter.tryAcquire(3), true); // new window, full
  assert.equal(stale.refund(), false); // would let 5 through in this window
  assert.equal(stale.state, "refunded");
  assert.equal(limiter.used, 3);
  assert.equal(limiter.tryAcquire(), false);

  // A stale reservation is discarded even when no call touched the limiter since the roll.
  await time.tickAsync(1_000);
  const late = limiter.tryReserve(1)!;
  await time.tickAsync(1_000);
  assert.equal(late.refund(), false);
  assert.equal(limiter.used, 0);
});

Deno.test("WindowedRateLimiter.snapshot() reports the window", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const start = time.now;
  const limiter = new WindowedRateLimiter({ limit: 2, window: 1_000 });
  limiter.tryAcquire(2);
  await time.tickAsync(250);
  assert.deepEqual(limiter.snapshot(), {
    used: 2,
    limit: 2,
    availableIn: 750,
    resetsAt: new Date(start + 1_000),
  });
});

// --- Multiple tiers ----------------------------------------------------------------------------

/** A meter that refuses everything but claims it is ready now: exercises the 1 ms floor. */
class StuckMeter implements Meter {
  debits = 0;
  tryDebit(_cost: number): number | undefined {
    this.debits += 1;
    return undefined;
  }
  credit(_cost: number, _generation: number): boolean {
    return true;
  }
  timeUntil(_cost: number): number {
    return 0;
  }
  snapshot(): MeterStatus {
    return { used: 0, limit: 0, availableIn: 0, resetsAt: undefined };
  }
}

Deno.test("MultiRateLimiter.withTier() validates names and costs", () => {
  const meter = RateLimiter.perSecond(1);
  const limiter = new MultiRateLimiter().withTier("a", meter);
  assertConfigurationError(() => limiter.withTier("", meter), /name must be a non-empty string/);
  assertConfigurationError(() => limiter.withTier("a", meter), /tier "a" is already registered/);
  assertConfigurationError(
    () => limiter.withTier("b", meter, -2),
    /tier "b" cost must be a non-negative integer, got -2/,
  );
  assertConfigurationError(() => limiter.tryAcquire(1.5), /cost must be a non-negative integer/);
  assert.deepEqual(limiter.tiers.map((t) => t.name), ["a"]);
});

Deno.test("MultiRateLimiter refunds earlier tiers when a later tier refuses", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const perSecond = RateLimiter.perSecond(10);
  const perMinute = new WindowedRateLimiter({ limit: 2, window: 60_000 });
  const limiter = new MultiRateLimiter()
    .withTier("per-second", perSecond)
    .withTier("per-minute", perMinute);
  limiter.tryAcquire();
  limiter.tryAcquire();
  await time.tickAsync(15_000);
  assert.throws(() => limiter.tryAcquire(), (error) => {
    assert.ok(error instanceof RateLimitedError);
    assert.equal(error.tier, "per-minute");
    assert.equal(error.retryAfter, 45_000);
    assert.equal(error.category, "rate_limited");
    return true;
  });
  assert.equal(perSecond.tokensAvailable, 10); // the earlier tier's debit was refunded
  assert.equal(perMinute.used, 2);
});

Deno.test("MultiRateLimiter reports the first refusing tier in registration order", () => {
  using _time = new FakeTime(Date.UTC(2026, 0, 1));
  const limiter = new MultiRateLimiter()
    .withTier("first", new RateLimiter({ maxTokens: 1, refillPeriod: 1_000 }))
    .withTier("second", new RateLimiter({ maxTokens: 1, refillPeriod: 5_000 }));
  limiter.tryAcquire();
  assert.throws(() => limiter.tryAcquire(), { name: "RateLimitedError", tier: "first" });
  assert.throws(() => limiter.tryAcquire(), { retryAfter: 1_000 });
});

Deno.test("MultiRateLimiter floors retryAfter at 1 ms", () => {
  const stuck = new StuckMeter();
  const limiter = new MultiRateLimiter().withTier("stuck", stuck);
  assert.throws(() => limiter.tryAcquire(), { tier: "stuck", retryAfter: 1 });
});

Deno.test("MultiRateLimiter `only` enforces a subset; unknown names enforce nothing", () => {
  using _time = new FakeTime(Date.UTC(2026, 0, 1));
  const reads = new RateLimiter({ maxTokens: 1, refillPeriod: 1_000 });
  const writes = new RateLimiter({ maxTokens: 1, refillPeriod: 1_000 });
  const limiter = new MultiRateLimiter().withTier("reads", reads).withTier("writes", writes);
  limiter.tryAcquire({ only: ["reads"] });
  assert.equal(reads.tokensAvailable, 0);
  assert.equal(writes.tokensAvailable, 1);
  assert.throws(() => limiter.tryAcquire({ only: ["reads"] }), { tier: "reads" });
  assert.throws(() => limiter.tryAcquire({ only: [] }), { tier: "reads" }); // empty = every tier
  assert.throws(() => limiter.tryAcquire(), { tier: "reads" });
  limiter.tryAcquire({ only: ["unknown"] }); // enforces nothing
  limiter.tryAcquire(1, { only: ["writes"] });
  assert.equal(writes.tokensAvailable, 0);
});

Deno.test("MultiRateLimiter weighs tiers, treats cost 0 as inert and debits shared meters twice", () => {
  using _time = new FakeTime(Date.UTC(2026, 0, 1));
  const bucket = new RateLimiter({ maxTokens: 10, refillPeriod: 60_000 });
  const never = new StuckMeter();
  const limiter = new MultiRateLimiter()
    .withTier("calls", bucket)
    .withTier("tokens", bucket, 3)
    .withTier("inert", never, 0);
  limiter.tryAcquire();
  assert.equal(bucket.tokensAvailable, 6); // 1 + 3 from the same bucket
  limiter.tryAcquire(0); // a zero-cost call is admitted without debits
  assert.equal(bucket.tokensAvailable, 6);
  assert.throws(() => limiter.tryAcquire(2), { tier: "tokens" }); // 2 + 6 > 6 left
  assert.equal(bucket.tokensAvailable, 6); // "calls" was refunded
  assert.equal(never.debits, 0);
  new MultiRateLimiter().tryAcquire(); // no tiers: always admits
});

Deno.test("MultiRateLimiter refuses tier costs above a meter's capacity with a ConfigurationError", async () => {
  using _time = new FakeTime(Date.UTC(2026, 0, 1));
  const first = RateLimiter.perSecond(5);
  const limiter = new MultiRateLimiter()
    .withTier("first", first)
    .withTier("huge", new WindowedRateLimiter({ limit: 5, window: 1_000 }), 6);
  const message = /tier "huge" needs 6 units per call, more than its meter can ever admit/;
  assertConfigurationError(() => limiter.tryAcquire(), message);
  await assert.rejects(limiter.acquire(), message);
  assert.equal(first.tokensAvailable, 5); // refunded
});

Deno.test("MultiRateLimiter.acquire() waits for the binding tier", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const start = time.now;
  const fast = RateLimiter.perSecond(10); // 100 ms per token
  const slow = new WindowedRateLimiter({ limit: 1, window: 1_000 });
  const limiter = new MultiRateLimiter().withTier("fast", fast).withTier("slow", slow);
  await limiter.acquire();
  const waiter = settledAt(limiter.acquire({ only: ["fast", "slow"] }));
  await time.tickAsync(999);
  assert.equal(waiter.at, undefined);
  assert.equal(fast.tokensAvailable, 10); // refilled, and nothing held while waiting
  await time.tickAsync(1);
  assert.equal(waiter.at, start + 1_000);
  assert.equal(fast.tokensAvailable, 9);
  assert.equal(slow.used, 1);
});

Deno.test("MultiRateLimiter.acquire() rejects with the signal's reason when aborted", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const limiter = new MultiRateLimiter().withTier(
    "slow",
    new RateLimiter({ maxTokens: 1, refillPeriod: 60_000 }),
  );
  await limiter.acquire();
  const controller = new AbortController();
  const waiting = limiter.acquire(1, { signal: controller.signal });
  await time.tickAsync(1_000);
  controller.abort(new DOMException("bye", "AbortError"));
  await assert.rejects(waiting, { name: "AbortError", message: "bye" });
  await assert.rejects(limiter.acquire({ signal: controller.signal }), { name: "AbortError" });
});

Deno.test("every limiter satisfies Limiter", async () => {
  using _time = new FakeTime(Date.UTC(2026, 0, 1));
  const limiters: Limiter[] = [
    RateLimiter.perSecond(1),
    new WindowedRateLimiter({ limit: 1, window: 1_000 }),
    new MultiRateLimiter().withTier("a", RateLimiter.perSecond(1)),
  ];
  for (const limiter of limiters) await limiter.acquire(1, { signal: undefined });
});
