// FakeTime: installing and restoring the globals, each method, and the timer semantics cano's
// suite relies on (order, re-arming, clearing inside callbacks, timers set during a tick, errors,
// yielding to the real event loop between timers).

import assert from "node:assert/strict";
import { CanoError, ConfigurationError } from "../mod.ts";
import { FakeTime } from "../testing.ts";

const START = Date.UTC(2026, 0, 1);

/** Every property FakeTime replaces. */
const REPLACED: [object, PropertyKey][] = [
  [globalThis, "setTimeout"],
  [globalThis, "setInterval"],
  [globalThis, "clearTimeout"],
  [globalThis, "clearInterval"],
  [globalThis, "Date"],
  [performance, "now"],
  [AbortSignal, "timeout"],
];

/** The own descriptors of the replaced properties (`undefined` when inherited). */
function descriptors(): (PropertyDescriptor | undefined)[] {
  return REPLACED.map(([target, key]) => Object.getOwnPropertyDescriptor(target, key));
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test("new FakeTime() starts at the given number, Date or the real time", () => {
  {
    using time = new FakeTime(START);
    assert.equal(time.now, START);
    assert.equal(time.start, START);
    assert.equal(Date.now(), START);
  }
  {
    using time = new FakeTime(new Date(START + 5));
    assert.equal(time.now, START + 5);
  }
  const before = Date.now();
  using time = new FakeTime();
  assert.ok(time.now >= before && time.now <= before + 60_000);
});

Deno.test("new FakeTime() refuses a bad start, naming the value", () => {
  for (
    const [start, shown] of [
      [NaN, "NaN"],
      [Infinity, "Infinity"],
      ["2026-01-01", "2026-01-01"],
      [new Date(NaN), "Invalid Date"],
      [9e15, "9000000000000000"],
    ] as const
  ) {
    assert.throws(
      () => new FakeTime(start as number),
      (error: unknown) =>
        error instanceof ConfigurationError && error.message.includes("FakeTime start") &&
        error.message.includes(shown),
    );
  }
  // Nothing was installed by the failed attempts.
  using _time = new FakeTime(0);
});

Deno.test("new FakeTime() refuses a bad loopLimit, naming the value", () => {
  for (const loopLimit of [0, -1, 1.5, NaN]) {
    assert.throws(
      () => new FakeTime(0, { loopLimit }),
      (error: unknown) =>
        error instanceof ConfigurationError && error.message.includes(String(loopLimit)),
    );
  }
});

Deno.test("new FakeTime() refuses to install over another FakeTime", () => {
  using _time = new FakeTime(START);
  assert.throws(
    () => new FakeTime(0),
    (error: unknown) =>
      error instanceof ConfigurationError && /already installed/.test(error.message) &&
      /restore\(\)/.test(error.message),
  );
  assert.equal(Date.now(), START, "the first clock is still in charge");
});

Deno.test("FakeTime.restore() puts every global back exactly", () => {
  const before = descriptors();
  const time = new FakeTime(START);
  assert.notDeepEqual(descriptors(), before);
  time.restore();
  assert.deepEqual(descriptors(), before);
  assert.equal(performance.now, Object.getPrototypeOf(performance).now);
  time.restore(); // a second call does nothing
  assert.deepEqual(descriptors(), before);
  using _again = new FakeTime(0); // the slot is free again
});

Deno.test("FakeTime[Symbol.dispose]() restores when the block throws", () => {
  const before = descriptors();
  assert.throws(() => {
    using _time = new FakeTime(START);
    throw new Error("the test failed");
  }, /the test failed/);
  assert.deepEqual(descriptors(), before);
  assert.ok(Date.now() > START - 10 * 365 * 86_400_000 && Date.now() !== START);
});

Deno.test("FakeTime.restore() drops pending timers and refuses further ticks", async () => {
  const time = new FakeTime(START);
  let fired = false;
  setTimeout(() => fired = true, 10);
  const kept = setTimeout; // the fake, kept by reference
  time.restore();
  assert.equal(time.countTimers(), 0);
  assert.throws(() => time.tick(10), ConfigurationError);
  await assert.rejects(time.tickAsync(10), /restored/);
  assert.throws(() => time.next(), /FakeTime.next cannot be used/);
  assert.equal(fired, false);
  // A fake kept from before hands on to the real setTimeout.
  await new Promise((resolve) => kept(resolve, 1));
});

Deno.test("FakeTime.tickAsync() stops quietly when the clock is restored mid-tick", async () => {
  const time = new FakeTime(0);
  const fired: number[] = [];
  setTimeout(() => {
    fired.push(1);
    time.restore();
  }, 10);
  setTimeout(() => fired.push(2), 20);
  await time.tickAsync(30);
  assert.deepEqual(fired, [1]);
});

Deno.test("Date under FakeTime reads the fake clock only without arguments", () => {
  const RealDate = Date;
  const earlier = new Date(5);
  using time = new FakeTime(START);
  assert.notEqual(Date, RealDate);
  assert.equal(new Date().getTime(), START);
  assert.equal(new Date(1_000).getTime(), 1_000);
  assert.equal(new Date(2026, 0, 1).getFullYear(), 2026);
  assert.equal(new Date("2026-02-03T00:00:00Z").getTime(), Date.UTC(2026, 1, 3));
  assert.equal(Date.UTC(2026, 0, 1), START);
  assert.equal(Date.parse("2026-01-01T00:00:00Z"), START);
  assert.equal(Date(), new RealDate(START).toString());
  assert.ok(new Date() instanceof Date);
  assert.ok(new Date() instanceof RealDate);
  assert.ok(earlier instanceof Date, "a date made before the clock");
  assert.equal(Date.prototype, RealDate.prototype);
  class Stamp extends Date {}
  assert.equal(new Stamp().getTime(), START);
  assert.ok(new Stamp() instanceof Date);
  time.tick(1_500);
  assert.equal(new Date().getTime(), START + 1_500);
});

Deno.test("Date.now replaced under FakeTime never reaches the real Date", () => {
  const realNow = Date.now;
  {
    using _time = new FakeTime(START);
    const fakeNow = Date.now;
    Date.now = () => 42;
    assert.equal(Date.now(), 42);
    Date.now = fakeNow;
    assert.equal(Date.now(), START);
  }
  assert.equal(Date.now, realNow);
});

Deno.test("performance.now() under FakeTime counts fake ms since the clock was created", async () => {
  using time = new FakeTime(START);
  assert.equal(performance.now(), 0);
  time.tick(10.25);
  assert.equal(performance.now(), 10.25);
  assert.equal(Date.now(), START + 10, "Date.now() stays whole");
  time.tick(0.75);
  assert.equal(performance.now(), 11);
  assert.equal(Date.now(), START + 11);
  await time.tickAsync(1_000);
  assert.equal(performance.now(), 1_011);
});

Deno.test("setTimeout() under FakeTime passes extra arguments and returns a Deno-like handle", () => {
  using time = new FakeTime(0);
  const got: unknown[] = [];
  const handle = setTimeout((a: number, b: string) => got.push(a, b), 5, 1, "two");
  assert.equal(typeof +handle, "number");
  assert.equal(handle.hasRef(), true);
  assert.equal(handle.unref().hasRef(), false);
  assert.equal(handle.ref().hasRef(), true);
  time.tick(5);
  assert.deepEqual(got, [1, "two"]);
  handle.refresh(); // re-arms a fired timeout
  time.tick(5);
  assert.deepEqual(got, [1, "two", 1, "two"]);
  const closed = setTimeout(() => got.push("closed"), 1);
  closed.close();
  const disposed = setTimeout(() => got.push("disposed"), 1);
  disposed[Symbol.dispose]();
  const byNumber = setTimeout(() => got.push("by number"), 1);
  clearTimeout(Number(byNumber));
  time.tick(10);
  assert.equal(got.length, 4);
  assert.throws(() => setTimeout("1 + 1" as unknown as () => void, 1), TypeError);
});

Deno.test("setTimeout() under FakeTime clamps delays as Deno does", () => {
  using time = new FakeTime(0);
  const fired: string[] = [];
  setTimeout(() => fired.push("2^31"), 2 ** 31); // too long: 1 ms, as in Deno
  setTimeout(() => fired.push("NaN"), NaN);
  setTimeout(() => fired.push("negative"), -5);
  setTimeout(() => fired.push("1.9"), 1.9);
  setTimeout(() => fired.push("max"), 2 ** 31 - 1);
  time.tick(0);
  assert.deepEqual(fired, ["NaN", "negative"]);
  time.tick(1);
  assert.deepEqual(fired, ["NaN", "negative", "2^31", "1.9"]);
  assert.equal(time.countTimers(), 1, "2^31 − 1 ms is honoured");
  time.tick(2 ** 31 - 3);
  assert.equal(fired.length, 4);
  time.tick(1);
  assert.equal(fired.at(-1), "max");
});

Deno.test("clearTimeout() under FakeTime hands a real timer on to the real clearTimeout", () => {
  let fired = false;
  const real = setTimeout(() => fired = true, 60_000);
  using _time = new FakeTime(0);
  clearTimeout(real); // the op sanitizer fails the test if the real timer were left pending
  clearTimeout(undefined);
  assert.equal(fired, false);
});

Deno.test("FakeTime.tick() runs due timers in order, ties in scheduling order", () => {
  using time = new FakeTime(0);
  const order: string[] = [];
  setTimeout(() => order.push("c@20"), 20);
  setTimeout(() => order.push("a@10"), 10);
  setTimeout(() => order.push("b@10"), 10);
  setTimeout(() => order.push("d@30"), 30);
  time.tick(25);
  assert.deepEqual(order, ["a@10", "b@10", "c@20"]);
  assert.equal(time.now, 25);
  assert.equal(time.countTimers(), 1);
});

Deno.test("FakeTime.tick() fires timers set during the tick inside its window", () => {
  using time = new FakeTime(0);
  const fired: number[] = [];
  setTimeout(() => {
    fired.push(Date.now());
    setTimeout(() => fired.push(Date.now()), 5); // at 15: inside the tick
    setTimeout(() => fired.push(Date.now()), 0); // 0 ms while advancing: 1 ms later, at 11
    setTimeout(() => fired.push(Date.now()), 50); // at 60: outside
  }, 10);
  time.tick(20);
  assert.deepEqual(fired, [10, 11, 15]);
  assert.equal(time.countTimers(), 1);
});

Deno.test("FakeTime.tick() re-arms intervals and lets a callback clear itself", () => {
  using time = new FakeTime(0);
  const runs: number[] = [];
  let hundreds = 0;
  const id = setInterval(() => {
    runs.push(Date.now());
    if (++hundreds === 3) clearInterval(id);
  }, 100);
  const zero = setInterval(() => runs.push(-1), 0); // 0 ms intervals run every 1 ms
  time.tick(3);
  clearTimeout(zero); // clearTimeout and clearInterval are interchangeable, as in Deno
  time.tick(1_000);
  assert.deepEqual(runs, [-1, -1, -1, -1, 100, 200, 300]);
  assert.equal(time.countTimers(), 0);
});

Deno.test("FakeTime.tick() skips a timer cleared by an earlier callback of the same tick", () => {
  using time = new FakeTime(0);
  const fired: string[] = [];
  setTimeout(() => {
    fired.push("first");
    clearTimeout(second);
  }, 10);
  const second = setTimeout(() => fired.push("second"), 10);
  setTimeout(() => fired.push("third"), 10);
  time.tick(10);
  assert.deepEqual(fired, ["first", "third"]);
});

Deno.test("FakeTime.tick() runs the other timers and rethrows the first error after", () => {
  using time = new FakeTime(0);
  const fired: string[] = [];
  setTimeout(() => {
    throw new Error("first failure");
  }, 10);
  setTimeout(() => fired.push("still ran"), 20);
  setTimeout(() => {
    throw new Error("second failure");
  }, 30);
  assert.throws(() => time.tick(50), /first failure/);
  assert.deepEqual(fired, ["still ran"]);
  assert.equal(time.now, 50);
});

Deno.test("FakeTime.tick() refuses a negative or non-finite length, naming it", () => {
  using time = new FakeTime(0);
  for (const ms of [-1, NaN, Infinity]) {
    assert.throws(
      () => time.tick(ms),
      (error: unknown) => error instanceof ConfigurationError && error.message.includes(`${ms}`),
    );
  }
  assert.equal(time.now, 0);
});

Deno.test("FakeTime.tickAsync() runs timers in order and settles each one's promises first", async () => {
  using time = new FakeTime(0);
  const log: string[] = [];
  const worker = async (name: string, steps: number[]): Promise<void> => {
    for (const ms of steps) {
      await sleep(ms);
      log.push(`${name}@${Date.now()}`);
    }
  };
  const a = worker("a", [10, 10, 10]);
  const b = worker("b", [15, 15]);
  await time.tickAsync(30);
  await Promise.all([a, b]);
  // At 30, b's timer (set at 15) fires before a's (set at 20).
  assert.deepEqual(log, ["a@10", "b@15", "a@20", "b@30", "a@30"]);
  assert.equal(time.now, 30);
});

Deno.test("FakeTime.tickAsync() yields to the real event loop between timers", async () => {
  using time = new FakeTime(0);
  const log: string[] = [];
  setTimeout(() => {
    log.push("timer 1");
    setImmediate(() => log.push("real macrotask")); // real: FakeTime does not fake setImmediate
  }, 10);
  setTimeout(() => log.push("timer 2"), 10);
  await time.tickAsync(10);
  assert.deepEqual(log, ["timer 1", "real macrotask", "timer 2"]);
});

Deno.test("FakeTime.tickAsync() lets real Deno KV I/O run under fake time", async () => {
  using time = new FakeTime(START);
  await using kv = await Deno.openKv(":memory:");
  const written = Promise.withResolvers<void>();
  setTimeout(async () => {
    await kv.set(["at"], new Date());
    written.resolve();
  }, 1_000);
  await time.tickAsync(1_000);
  await written.promise;
  const entry = await kv.get<Date>(["at"]);
  assert.ok(entry.value instanceof Date);
  assert.equal(entry.value.getTime(), START + 1_000);
});

Deno.test("FakeTime.tickAsync() rethrows the first timer error after the tick", async () => {
  using time = new FakeTime(0);
  const fired: number[] = [];
  setTimeout(() => {
    throw new Error("boom");
  }, 5);
  setTimeout(() => fired.push(Date.now()), 10);
  await assert.rejects(time.tickAsync(20), /boom/);
  assert.deepEqual(fired, [10]);
  assert.equal(time.now, 20);
});

Deno.test("FakeTime.runMicrotasks() settles ready promises without moving the clock", async () => {
  using time = new FakeTime(0);
  let steps = 0;
  const chain = async (): Promise<void> => {
    for (let i = 0; i < 5; i++) {
      await Promise.resolve();
      steps++;
    }
  };
  void chain();
  setTimeout(() => steps = -100, 0);
  await time.runMicrotasks();
  assert.equal(steps, 5);
  assert.equal(time.countTimers(), 1, "timers wait for a tick");
  assert.equal(time.now, 0);
});

Deno.test("FakeTime.next() runs the next timer and says whether there was one", () => {
  using time = new FakeTime(0);
  const fired: number[] = [];
  setTimeout(() => fired.push(Date.now()), 50);
  setTimeout(() => fired.push(Date.now()), 20);
  assert.equal(time.next(), true);
  assert.deepEqual(fired, [20]);
  assert.equal(time.next(), true);
  assert.equal(time.next(), false);
  assert.deepEqual(fired, [20, 50]);
  assert.equal(time.now, 50);
  setTimeout(() => {
    throw new Error("next failed");
  }, 5);
  assert.throws(() => time.next(), /next failed/);
  assert.equal(time.now, 55);
});

Deno.test("FakeTime.nextAsync() runs the next timer and its continuation", async () => {
  using time = new FakeTime(0);
  const log: string[] = [];
  void sleep(100).then(() => log.push(`woke at ${Date.now()}`));
  assert.equal(await time.nextAsync(), true);
  assert.deepEqual(log, ["woke at 100"]);
  assert.equal(await time.nextAsync(), false);
  setTimeout(() => {
    throw new Error("async next failed");
  }, 1);
  await assert.rejects(time.nextAsync(), /async next failed/);
});

Deno.test("FakeTime.runAll() runs timers until none is left", () => {
  using time = new FakeTime(0);
  const fired: number[] = [];
  const chain = (left: number): void => {
    fired.push(Date.now());
    if (left > 0) setTimeout(() => chain(left - 1), 1_000);
  };
  setTimeout(() => chain(3), 1_000);
  time.runAll();
  assert.deepEqual(fired, [1_000, 2_000, 3_000, 4_000]);
  assert.equal(time.countTimers(), 0);
});

Deno.test("FakeTime.runAll() stops an interval after loopLimit timers", () => {
  using time = new FakeTime(0, { loopLimit: 50 });
  let runs = 0;
  setInterval(() => runs++, 10);
  assert.throws(
    () => time.runAll(),
    (error: unknown) =>
      error instanceof CanoError && /after running 50 timers/.test(error.message) &&
      /loopLimit/.test(error.message),
  );
  assert.equal(runs, 50);
});

Deno.test("FakeTime.runAllAsync() runs timers set by promise callbacks too", async () => {
  using time = new FakeTime(0);
  const log: number[] = [];
  void (async () => {
    for (let i = 0; i < 3; i++) {
      await sleep(60_000);
      log.push(Date.now());
    }
  })();
  await time.runAllAsync();
  assert.deepEqual(log, [60_000, 120_000, 180_000]);
  setInterval(() => {}, 1);
  await assert.rejects(time.runAllAsync(), /runAllAsync\(\) stopped after running 1000 timers/);
});

Deno.test("FakeTime.now moves forward when set, running the timers due", () => {
  using time = new FakeTime(1_000);
  const fired: number[] = [];
  setTimeout(() => fired.push(Date.now()), 100);
  setTimeout(() => fired.push(Date.now()), 5_000);
  time.now = 2_000;
  assert.deepEqual(fired, [1_100]);
  assert.equal(Date.now(), 2_000);
  assert.throws(
    () => time.now = 1_500,
    (error: unknown) => error instanceof ConfigurationError && /1500/.test(error.message),
  );
  assert.equal(time.now, 2_000);
});

Deno.test("FakeTime.countTimers() counts timeouts, intervals and AbortSignal timeouts", () => {
  using time = new FakeTime(0);
  assert.equal(time.countTimers(), 0);
  const interval = setInterval(() => {}, 10);
  setTimeout(() => {}, 10);
  AbortSignal.timeout(10);
  assert.equal(time.countTimers(), 3);
  time.tick(10);
  assert.equal(time.countTimers(), 1);
  clearInterval(interval);
  assert.equal(time.countTimers(), 0);
});

Deno.test("AbortSignal.timeout() under FakeTime aborts with a TimeoutError on the fake clock", async () => {
  using time = new FakeTime(0);
  const signal = AbortSignal.timeout(1_000);
  let abortedAt = -1;
  signal.addEventListener("abort", () => abortedAt = Date.now());
  await time.tickAsync(999);
  assert.equal(signal.aborted, false);
  await time.tickAsync(1);
  assert.equal(signal.aborted, true);
  assert.equal(abortedAt, 1_000);
  assert.ok(signal.reason instanceof DOMException);
  assert.equal(signal.reason.name, "TimeoutError");
  assert.equal(signal.reason.message, "Signal timed out.");
  assert.throws(() => AbortSignal.timeout(-1), TypeError);
  assert.throws(() => AbortSignal.timeout(NaN), TypeError);
});
