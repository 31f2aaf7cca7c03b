// `deno bench bench/resilience_bench.ts`: the cost of one admission decision, so the reported
// time per iteration is the time per call. Budgets: ≤ 200 ns for a breaker acquire + record and
// ≤ 200 ns for a token-bucket acquire.

import {
  CircuitBreaker,
  type CircuitPermit,
  MultiRateLimiter,
  RateLimiter,
  WindowedRateLimiter,
} from "../mod.ts";

// Limits high enough that the admitted paths never run dry during a bench run.
const HUGE = 1e12;

const closed = new CircuitBreaker();
Deno.bench({
  name: "CircuitBreaker tryAcquire + permit.recordSuccess (closed)",
  group: "breaker",
  baseline: true,
  fn: () => {
    closed.tryAcquire().recordSuccess();
  },
});

const viaBreaker = new CircuitBreaker();
Deno.bench({
  name: "CircuitBreaker tryAcquire + breaker.recordSuccess(permit) (closed)",
  group: "breaker",
  fn: () => {
    viaBreaker.recordSuccess(viaBreaker.tryAcquire());
  },
});

const failing = new CircuitBreaker({ failureThreshold: Number.MAX_SAFE_INTEGER });
Deno.bench({
  name: "CircuitBreaker tryAcquire + recordFailure (closed, below threshold)",
  group: "breaker",
  fn: () => {
    failing.tryAcquire().recordFailure();
  },
});

// The permit is stored before its outcome is recorded, so it cannot be optimised away.
const escaping = new CircuitBreaker();
const held: CircuitPermit[] = [];
Deno.bench({
  name: "CircuitBreaker tryAcquire + recordSuccess (closed, permit escapes)",
  group: "breaker",
  fn: () => {
    held.push(escaping.tryAcquire());
    (held.pop() as CircuitPermit).recordSuccess();
  },
});

const disposing = new CircuitBreaker();
Deno.bench({
  name: "CircuitBreaker `using` permit + recordSuccess (closed)",
  group: "breaker",
  fn: () => {
    using permit = disposing.tryAcquire();
    permit.recordSuccess();
  },
});

// What `using` itself costs, with nothing to dispose: the floor of the row above.
const noop: Disposable = { [Symbol.dispose](): void {} };
Deno.bench({
  name: "`using` a no-op Disposable (language overhead, for reference)",
  group: "breaker",
  fn: () => {
    using _resource = noop;
  },
});

const open = new CircuitBreaker({ failureThreshold: 1, resetTimeout: 3_600_000 });
open.tryAcquire().recordFailure();
Deno.bench({
  name: "CircuitBreaker tryAcquire rejected (open; throws CircuitOpenError)",
  group: "breaker",
  fn: () => {
    try {
      open.tryAcquire();
    } catch {
      // expected
    }
  },
});

// Every limiter call reads the clock once: this is the floor of the rows below.
let sink = 0;
Deno.bench({
  name: "Date.now() alone (clock floor, for reference)",
  group: "limiters",
  fn: () => {
    sink ^= Date.now();
  },
});

const bucket = new RateLimiter({ maxTokens: HUGE, refillPeriod: 1_000 });
Deno.bench({
  name: "RateLimiter tryAcquire() admitted",
  group: "limiters",
  baseline: true,
  fn: () => {
    bucket.tryAcquire();
  },
});

const weighted = new RateLimiter({ maxTokens: HUGE, refillPeriod: 1_000 });
Deno.bench({
  name: "RateLimiter tryAcquire(3) admitted",
  group: "limiters",
  fn: () => {
    weighted.tryAcquire(3);
  },
});

const empty = new RateLimiter({ maxTokens: 1, refillPeriod: 3_600_000 });
empty.tryAcquire();
Deno.bench({
  name: "RateLimiter tryAcquire() refused",
  group: "limiters",
  fn: () => {
    empty.tryAcquire();
  },
});

const window = new WindowedRateLimiter({ limit: HUGE, window: 3_600_000 });
Deno.bench({
  name: "WindowedRateLimiter tryAcquire() admitted",
  group: "limiters",
  fn: () => {
    window.tryAcquire();
  },
});

const fullWindow = new WindowedRateLimiter({ limit: 1, window: 3_600_000 });
fullWindow.tryAcquire();
Deno.bench({
  name: "WindowedRateLimiter tryAcquire() refused",
  group: "limiters",
  fn: () => {
    fullWindow.tryAcquire();
  },
});

const multi = new MultiRateLimiter()
  .withTier("per-second", new RateLimiter({ maxTokens: HUGE, refillPeriod: 1_000 }))
  .withTier("per-day", new WindowedRateLimiter({ limit: HUGE, window: 86_400_000 }));
Deno.bench({
  name: "MultiRateLimiter tryAcquire() admitted (bucket + window tiers)",
  group: "limiters",
  fn: () => {
    multi.tryAcquire();
  },
});

const refusing = new MultiRateLimiter()
  .withTier("per-second", new RateLimiter({ maxTokens: HUGE, refillPeriod: 1_000 }))
  .withTier("per-day", fullWindow);
Deno.bench({
  name: "MultiRateLimiter tryAcquire() refused by the 2nd tier (refund; throws)",
  group: "limiters",
  fn: () => {
    try {
      refusing.tryAcquire();
    } catch {
      // expected
    }
  },
});
