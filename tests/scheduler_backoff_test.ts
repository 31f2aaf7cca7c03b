// BackoffPolicy: cano's defaults and delay formula (spec §9.2), and input checks.

import assert from "node:assert/strict";
import { ConfigurationError } from "../mod.ts";
import { BackoffPolicy } from "../scheduler.ts";

Deno.test("BackoffPolicy.default() is 1 s, ×2, 300 s cap, jitter 0.1, no trip", () => {
  assert.deepEqual(BackoffPolicy.default(), {
    initial: 1_000,
    multiplier: 2,
    maxDelay: 300_000,
    jitter: 0.1,
    streakLimit: undefined,
  });
  assert.deepEqual(BackoffPolicy.resolve({}), BackoffPolicy.default());
  assert.deepEqual(BackoffPolicy.resolve(), BackoffPolicy.default());
});

Deno.test("BackoffPolicy.withTrip() is the default with a streak limit", () => {
  assert.deepEqual(BackoffPolicy.withTrip(5), { ...BackoffPolicy.default(), streakLimit: 5 });
  assert.equal(BackoffPolicy.isTripped(BackoffPolicy.withTrip(0), 1), true, "0 trips at once");
  assert.equal(BackoffPolicy.isTripped(BackoffPolicy.withTrip(3), 2), false);
  assert.equal(BackoffPolicy.isTripped(BackoffPolicy.withTrip(3), 3), true);
  assert.equal(BackoffPolicy.isTripped({}, 1_000_000), false, "no limit: never trips");
});

Deno.test("BackoffPolicy.computeDelay() grows geometrically up to the cap", () => {
  const policy = { initial: 1_000, multiplier: 2, maxDelay: 300_000, jitter: 0 };
  assert.deepEqual(
    [0, 1, 2, 3, 4, 8, 9, 10, 50, 5_000].map((s) => BackoffPolicy.computeDelay(policy, s)),
    [1_000, 1_000, 2_000, 4_000, 8_000, 128_000, 256_000, 300_000, 300_000, 300_000],
  );
  assert.equal(BackoffPolicy.computeDelay({ initial: 0, jitter: 0 }, 10_000), 0);
  assert.equal(BackoffPolicy.computeDelay({ initial: 150, multiplier: 1, jitter: 0 }, 7), 150);
});

Deno.test("BackoffPolicy.computeDelay() applies jitter within ±jitter and never above the cap", () => {
  const policy = { initial: 1_000, multiplier: 2, maxDelay: 4_000, jitter: 0.25 };
  assert.equal(BackoffPolicy.computeDelay(policy, 1, () => 0), 750);
  assert.equal(BackoffPolicy.computeDelay(policy, 1, () => 0.5), 1_000);
  assert.equal(BackoffPolicy.computeDelay(policy, 1, () => 0.999_999), 1_250);
  assert.equal(BackoffPolicy.computeDelay(policy, 3, () => 0.999_999), 4_000, "clamped again");
  assert.equal(BackoffPolicy.computeDelay(policy, 3, () => 0), 3_000);
  for (let i = 0; i < 1_000; i++) {
    const delay = BackoffPolicy.computeDelay({ jitter: 1 }, 2);
    assert.ok(delay >= 0 && delay <= 4_000);
  }
});

Deno.test("BackoffPolicy.resolve() rejects fields out of range", () => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ initial: -1 }, /initial delay must be a finite number of ms ≥ 0, received -1/],
    [{ initial: Infinity }, /initial delay/],
    [{ multiplier: 0 }, /multiplier must be a finite number ≥ 1, received 0/],
    [{ multiplier: NaN }, /multiplier/],
    [{ maxDelay: 10, initial: 20 }, /maxDelay must be a finite number of ms ≥ initial \(20\)/],
    [{ jitter: -0.1 }, /jitter must be a number in \[0, 1\]/],
    [{ jitter: 1.5 }, /jitter/],
    [{ streakLimit: -1 }, /streakLimit must be a non-negative integer, received -1/],
    [{ streakLimit: 2.5 }, /streakLimit/],
  ];
  for (const [policy, message] of bad) {
    assert.throws(() => BackoffPolicy.resolve(policy), (error: unknown) => {
      assert.ok(error instanceof ConfigurationError);
      assert.match(error.message, message);
      return true;
    });
  }
  assert.throws(
    () => BackoffPolicy.resolve(null as unknown as BackoffPolicy),
    /Backoff policy must be an object/,
  );
});

Deno.test("BackoffPolicy.resolve(): a large initial delay raises the default cap with it", () => {
  assert.equal(BackoffPolicy.resolve({ initial: 600_000 }).maxDelay, 600_000);
});
