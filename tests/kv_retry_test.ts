// LockRetry (src/recovery/kv_retry.ts): the time-budgeted, jittered, signal-aware retry of Deno
// KV's `database is locked`, its statistics, and the `retry` options of KvCheckpointStore that
// configure it. Timing runs on a fake clock; Math.random is pinned where the waits are asserted.

import assert from "node:assert/strict";
import { numberedRow } from "./_checkpoint_helpers.ts";
import { FakeTime } from "../testing.ts";
import { CheckpointStoreError, ConfigurationError } from "../src/errors.ts";
import { KvCheckpointStore, type KvLike } from "../src/recovery/kv_store.ts";
import { checkKvOptions, type KvCheckpointStoreOptions } from "../src/recovery/kv_options.ts";
import {
  DEFAULT_CAS_PASSES,
  DEFAULT_LOCK_BUDGET_MS,
  LockRetry,
  type LockRetryPolicy,
  lockRetryStats,
  resetLockRetryStats,
} from "../src/recovery/kv_retry.ts";
import { OwnershipLostError } from "../src/recovery/run_errors.ts";

const LOCKED = "database is locked";

function policy(overrides: Partial<LockRetryPolicy> = {}): LockRetryPolicy {
  return {
    budgetMs: 1_000,
    baseDelay: 1,
    maxDelay: 100,
    attempts: undefined,
    signal: undefined,
    ...overrides,
  };
}

/** An operation that throws `database is locked` `failures` times, then returns "done"; logs when. */
function flaky(failures: number): { (): Promise<string>; calls: number; at: number[] } {
  const operation = Object.assign(() => {
    operation.calls++;
    operation.at.push(Date.now());
    return operation.calls <= failures
      ? Promise.reject(new TypeError(LOCKED))
      : Promise.resolve("done");
  }, { calls: 0, at: [] as number[] });
  return operation;
}

/** Pins Math.random to `value` until disposed. */
function pinRandom(value: number): Disposable {
  const original = Math.random;
  Math.random = () => value;
  return { [Symbol.dispose]: () => void (Math.random = original) };
}

/** The waits between consecutive calls. */
function gaps(at: readonly number[]): number[] {
  return at.slice(1).map((t, i) => t - at[i]!);
}

Deno.test("LockRetry retries 'database is locked' until the operation succeeds", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  resetLockRetryStats();
  const retry = new LockRetry(policy({ budgetMs: 60_000 }));
  const operation = flaky(20); // more than the 8 attempts the old default allowed
  const result = retry.run("Append checkpoint row 3", "run", operation);
  await time.tickAsync(5_000); // 20 waits of at most 100 ms
  assert.equal(await result, "done");
  assert.equal(operation.calls, 21);
  assert.deepEqual(
    { ...retry.stats, worstRetryMs: 0 },
    { contended: 1, retries: 20, worstRetries: 20, worstRetryMs: 0, exhausted: 0 },
  );
  assert.ok(retry.stats.worstRetryMs > 0 && retry.stats.worstRetryMs <= 2_000);
  assert.deepEqual(lockRetryStats(), retry.stats, "the process-wide counters saw the same");
  assert.equal(time.countTimers(), 0);
});

Deno.test("LockRetry costs nothing when the first attempt succeeds: no stats, no timer", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  resetLockRetryStats();
  const retry = new LockRetry(policy());
  assert.equal(await retry.run("Read run record", "run", flaky(0)), "done");
  assert.deepEqual(retry.stats, {
    contended: 0,
    retries: 0,
    worstRetries: 0,
    worstRetryMs: 0,
    exhausted: 0,
  });
  assert.equal(lockRetryStats().contended, 0);
  assert.equal(time.countTimers(), 0);
});

Deno.test("LockRetry waits with decorrelated jitter between baseDelay and maxDelay", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  {
    // The top of the range: each wait three times the previous one, up to the cap.
    using _random = pinRandom(1);
    const operation = flaky(8);
    const result = new LockRetry(policy({ baseDelay: 1, maxDelay: 100 })).run(
      "op",
      "run",
      operation,
    );
    await time.tickAsync(1_000);
    assert.equal(await result, "done");
    assert.deepEqual(gaps(operation.at), [3, 9, 27, 81, 100, 100, 100, 100]);
  }
  {
    // The bottom of the range: baseDelay every time.
    using _random = pinRandom(0);
    const operation = flaky(5);
    const result = new LockRetry(policy({ baseDelay: 4, maxDelay: 100 })).run(
      "op",
      "run",
      operation,
    );
    await time.tickAsync(1_000);
    assert.equal(await result, "done");
    assert.deepEqual(gaps(operation.at), [4, 4, 4, 4, 4]);
  }
  {
    // baseDelay 0 retries at once, without a timer.
    const operation = flaky(5);
    assert.equal(
      await new LockRetry(policy({ baseDelay: 0, maxDelay: 0 })).run("op", "run", operation),
      "done",
    );
    assert.deepEqual(gaps(operation.at), [0, 0, 0, 0, 0]);
  }
});

Deno.test("LockRetry gives up once the budget is used up, naming the operation and the time", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  resetLockRetryStats();
  const retry = new LockRetry(policy({ budgetMs: 1_000 }));
  const operation = flaky(Infinity);
  let settled: unknown = "pending";
  const result = retry.run("Append checkpoint row 3", "order-7", operation).catch((error) => {
    settled = error;
  });
  await time.tickAsync(999);
  assert.equal(String(settled), "pending");
  await time.tickAsync(1); // the last wait is cut to what is left: the last attempt lands on 1,000 ms
  await result;
  assert.ok(settled instanceof CheckpointStoreError);
  assert.match(
    settled.message,
    new RegExp(
      `^Append checkpoint row 3 for workflow "order-7" failed: database is locked after ` +
        `${operation.calls} attempts in 1000 ms \\(retry\\.budgetMs is 1000\\)$`,
    ),
  );
  assert.ok(settled.cause instanceof TypeError);
  assert.equal(operation.at.at(-1), operation.at[0]! + 1_000);
  assert.ok(gaps(operation.at).every((ms) => ms >= 1 && ms <= 100), "waits within 1–100 ms");
  assert.ok(operation.calls > 10);
  assert.deepEqual(retry.stats, {
    contended: 1,
    retries: operation.calls - 1,
    worstRetries: operation.calls - 1,
    worstRetryMs: 1_000,
    exhausted: 1,
  });
  assert.equal(lockRetryStats().exhausted, 1);
  assert.equal(time.countTimers(), 0);
});

Deno.test("LockRetry stops at the operation's deadline when it comes before the budget", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const retry = new LockRetry(policy({ budgetMs: 30_000 }));
  const operation = flaky(Infinity);
  let settled: unknown = "pending";
  const result = retry.run("Renew lease", "run", operation, Date.now() + 2_500).catch((error) => {
    settled = error;
  });
  await time.tickAsync(2_500);
  await result;
  assert.ok(settled instanceof CheckpointStoreError);
  assert.match(
    settled.message,
    /^Renew lease for workflow "run" failed: database is locked after \d+ attempts in 2500 ms \(its deadline passed\)$/,
  );
  // A deadline already past: the first lock error is final.
  const late = flaky(Infinity);
  await assert.rejects(
    retry.run("Renew lease", "run", late, Date.now() - 1),
    /after 1 attempt in 0 ms/,
  );
  assert.equal(late.calls, 1);
  // A deadline after the budget changes nothing.
  const far = flaky(3);
  const done = retry.run("op", "run", far, Date.now() + 3_600_000);
  await time.tickAsync(1_000);
  assert.equal(await done, "done");
  assert.equal(time.countTimers(), 0);
});

Deno.test("LockRetry with budgetMs 0 makes one attempt; with Infinity it keeps going", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  await assert.rejects(
    new LockRetry(policy({ budgetMs: 0 })).run("Renew lease", "run", flaky(1)),
    (error: unknown) => {
      assert.ok(error instanceof CheckpointStoreError);
      assert.match(
        error.message,
        /^Renew lease for workflow "run" failed: database is locked after 1 attempt in 0 ms \(retry\.budgetMs is 0\)$/,
      );
      return true;
    },
  );
  const operation = flaky(2_000);
  const result = new LockRetry(policy({ budgetMs: Infinity })).run("op", "run", operation);
  await time.tickAsync(2_000 * 100);
  assert.equal(await result, "done");
  assert.equal(operation.calls, 2_001);
});

Deno.test("LockRetry stops at retry.attempts when it is set, before the budget", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const retry = new LockRetry(policy({ attempts: 3, budgetMs: 60_000 }));
  assert.equal(retry.attempts, 3, "also the compare-and-set passes");
  const operation = flaky(Infinity);
  const result = assert.rejects(retry.run("Claim run", "run", operation), (error: unknown) => {
    assert.ok(error instanceof CheckpointStoreError);
    assert.match(
      error.message,
      /^Claim run for workflow "run" failed: database is locked after 3 attempts in \d+ ms \(retry\.attempts is 3\)$/,
    );
    return true;
  });
  await time.tickAsync(1_000);
  await result;
  assert.equal(operation.calls, 3);
});

Deno.test("LockRetry rejects with the signal's reason as soon as it aborts mid-retry", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  resetLockRetryStats();
  const controller = new AbortController();
  const reason = new Error("shutting down");
  const retry = new LockRetry(
    policy({ baseDelay: 50_000, maxDelay: 50_000, budgetMs: Infinity, signal: controller.signal }),
  );
  const operation = flaky(Infinity);
  let settled: unknown = "pending";
  const result = retry.run("Append checkpoint row 0", "run", operation).catch((error) => {
    settled = error;
  });
  await time.tickAsync(100_001); // two waits of 50 s: three attempts
  assert.equal(operation.calls, 3);
  assert.equal(time.countTimers(), 1, "waiting for the next attempt");
  controller.abort(reason);
  await time.tickAsync(0);
  await result;
  assert.equal(settled, reason, "the reason itself, as the store's signal option promises");
  assert.equal(operation.calls, 3, "no attempt after the abort");
  assert.equal(time.countTimers(), 0, "the wait's timer is cleared");
  assert.deepEqual(
    { ...retry.stats, worstRetryMs: 0 },
    { contended: 1, retries: 2, worstRetries: 2, worstRetryMs: 0, exhausted: 0 },
  );
  // Already aborted: a locked attempt rejects at once, without waiting.
  const again = flaky(Infinity);
  await assert.rejects(retry.run("op", "run", again), (error: unknown) => error === reason);
  assert.equal(again.calls, 1);
});

Deno.test("LockRetry does not retry other errors: KV failures wrapped, cano errors as they are", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const retry = new LockRetry(policy());
  let calls = 0;
  const diskFull = (): Promise<never> => {
    calls++;
    return Promise.reject(calls === 1 ? new TypeError(LOCKED) : new Error("disk I/O error"));
  };
  const failed = assert.rejects(retry.run("Renew lease", "run", diskFull), (error: unknown) => {
    assert.ok(error instanceof CheckpointStoreError);
    assert.equal(error.message, 'Renew lease for workflow "run" failed in Deno KV: disk I/O error');
    return true;
  });
  await time.tickAsync(1_000);
  await failed;
  assert.equal(calls, 2);
  const lost = new OwnershipLostError("run", "taken over");
  let lostCalls = 0;
  const taken = (): Promise<never> => {
    lostCalls++;
    return Promise.reject(lostCalls === 1 ? new TypeError(LOCKED) : lost);
  };
  const passed = assert.rejects(retry.run("op", "run", taken), (error: unknown) => error === lost);
  await time.tickAsync(1_000);
  await passed;
  await assert.rejects(
    retry.run("op", "run", () => Promise.reject(lost)),
    (e: unknown) => e === lost,
  );
  await assert.rejects(
    retry.run("Read run record", "run", () => Promise.reject(new Error("closed"))),
    (error: unknown) =>
      error instanceof CheckpointStoreError &&
      error.message === 'Read run record for workflow "run" failed in Deno KV: closed',
  );
});

Deno.test("LockRetry's transitional positional form: a 30 s budget, attempts as an optional cap", () => {
  const signal = new AbortController().signal;
  const uncapped = new LockRetry(undefined, 10, signal);
  assert.equal(uncapped.attempts, DEFAULT_CAS_PASSES);
  assert.deepEqual(uncapped.policy, {
    budgetMs: DEFAULT_LOCK_BUDGET_MS,
    baseDelay: 10,
    maxDelay: 20,
    attempts: undefined,
    signal,
  });
  const capped = new LockRetry(5, 500, undefined);
  assert.equal(capped.attempts, 5);
  assert.equal(capped.policy.maxDelay, 500, "never below baseDelay");
});

// --- the store's retry options --------------------------------------------------------------

/** A KvLike with no data whose first `failures` commits (and all while `fail`) are locked. */
function lockedFor(failures: number): KvLike & { commits: number; fail: boolean } {
  let version = 0;
  const fake = {
    commits: 0,
    fail: false,
    atomic() {
      const op = {
        check: () => op,
        set: () => op,
        delete: () => op,
        commit: () => {
          fake.commits++;
          if (fake.commits <= failures || fake.fail) return Promise.reject(new TypeError(LOCKED));
          return Promise.resolve({ ok: true, versionstamp: String(++version).padStart(20, "0") });
        },
      };
      return op;
    },
    get: () => Promise.resolve({ value: null, versionstamp: null }),
    list: () => ({
      [Symbol.asyncIterator]: () => ({
        next: () => Promise.resolve({ done: true as const, value: undefined }),
      }),
    }),
  };
  return fake as unknown as KvLike & { commits: number; fail: boolean };
}

Deno.test(
  "KvCheckpointStore's default retry rides out more lock errors than the old 8 attempts",
  async () => {
    using time = new FakeTime(Date.UTC(2026, 0, 1));
    const kv = lockedFor(40);
    const store = new KvCheckpointStore(kv);
    const append = store.append("run", numberedRow(0));
    await time.tickAsync(10_000); // 40 waits of at most 100 ms
    await append;
    assert.equal(kv.commits, 41);
  },
);

Deno.test("KvCheckpointStore's retry defaults: 30 s, waits of 1–20 ms, no attempt cap", () => {
  const kv = lockedFor(0);
  const budget = (options: KvCheckpointStoreOptions): unknown =>
    checkKvOptions(kv, options).retry.budgetMs;
  assert.equal(budget({}), 30_000);
  assert.equal(budget({ leaseMs: 3_000 }), 30_000, "not the lease: renewals pass the lease's end");
  assert.equal(budget({ leaseMs: 10, retry: { budgetMs: 50 } }), 50);
  assert.equal(budget({ retry: { budgetMs: Infinity } }), Infinity);
  const signal = new AbortController().signal;
  const checked = checkKvOptions(kv, { signal, retry: { attempts: 4, baseDelay: 2, maxDelay: 9 } });
  assert.deepEqual(checked.retry, {
    budgetMs: 30_000,
    attempts: 4,
    baseDelay: 2,
    maxDelay: 9,
    signal,
  });
  assert.deepEqual(checkKvOptions(kv, {}).retry, {
    budgetMs: 30_000,
    attempts: undefined,
    baseDelay: 1,
    maxDelay: 20,
    signal: undefined,
  });
  assert.equal(checkKvOptions(kv, { retry: { baseDelay: 250 } }).retry.maxDelay, 250);
});

Deno.test("KvCheckpointStore refuses bad retry options, naming the value", () => {
  const kv = lockedFor(0);
  const cases: [KvCheckpointStoreOptions["retry"], RegExp][] = [
    [
      { budgetMs: -1 },
      /retry\.budgetMs must be a number of milliseconds ≥ 0 \(or Infinity\), received -1/,
    ],
    [{ budgetMs: NaN }, /retry\.budgetMs .*received NaN/],
    [{ budgetMs: "5" as unknown as number }, /retry\.budgetMs .*received 5$/],
    [{ attempts: 0 }, /retry\.attempts must be an integer of at least 1, received 0/],
    [{ attempts: 1.5 }, /retry\.attempts .*received 1\.5/],
    [{ attempts: Symbol("x") as unknown as number }, /retry\.attempts .*received Symbol\(x\)/],
    [
      { baseDelay: -1 },
      /retry\.baseDelay must be a finite number of milliseconds ≥ 0, received -1/,
    ],
    [{ baseDelay: Infinity }, /retry\.baseDelay .*received Infinity/],
    [{ maxDelay: Infinity }, /retry\.maxDelay must be a finite number .*received Infinity/],
    [{ baseDelay: 50, maxDelay: 10 }, /retry\.maxDelay must be .* ≥ baseDelay \(50\), received 10/],
  ];
  for (const [retry, message] of cases) {
    assert.throws(() => new KvCheckpointStore(kv, { retry }), (error: unknown) => {
      assert.ok(error instanceof ConfigurationError, String(error));
      assert.match(error.message, message);
      return true;
    });
  }
});

Deno.test("KvCheckpointStore applies retry.budgetMs and retry.maxDelay", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const kv = lockedFor(Infinity);
  const store = new KvCheckpointStore(kv, { retry: { budgetMs: 500, maxDelay: 5 } });
  let settled: unknown = "pending";
  const append = store.append("run", numberedRow(0)).catch((error) => {
    settled = error;
  });
  await time.tickAsync(500);
  await append;
  assert.ok(settled instanceof CheckpointStoreError);
  assert.match(settled.message, /locked after \d+ attempts in 500 ms \(retry\.budgetMs is 500\)/);
  assert.ok(kv.commits >= 100, `waits of at most 5 ms: ${kv.commits} attempts`);
});

Deno.test("KvCheckpointStore.renew() stops retrying the lock shortly before its lease ends", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const kv = lockedFor(1); // the claim's commit is the first: it lands after one retry
  const store = new KvCheckpointStore(kv, { leaseMs: 3_000 });
  const claim = store.claim("run", { mode: "start", owner: "me", workflow: "", version: 0 });
  await time.tickAsync(10);
  const { lease } = await claim;
  kv.fail = true;
  await time.tickAsync(1_000); // the heartbeat's moment: 2 s of lease left, less a 300 ms margin
  let settled: unknown = "pending";
  const expected = lease.leaseUntil - 300 - Date.now();
  const renew = store.renew(lease).catch((error) => {
    settled = error;
  });
  await time.tickAsync(1_700);
  await renew;
  assert.ok(settled instanceof CheckpointStoreError, String(settled));
  assert.match(
    settled.message,
    new RegExp(
      `^Renew lease for workflow "run" failed: database is locked after \\d+ attempts in ${expected} ms \\(its deadline passed\\)$`,
    ),
  );
});
