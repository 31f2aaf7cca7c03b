// Differential test: the same timer scripts run under @sinonjs/fake-timers (what cano's suite was
// written against) and under our FakeTime, and the events (what fired, at which fake time, how many
// timers were left after each step, what was thrown) must match. This is the only test that
// imports sinon.

import assert from "node:assert/strict";
import FakeTimers from "npm:@sinonjs/fake-timers@^15";
import { FakeTime } from "../testing.ts";

const START = Date.UTC(2026, 0, 1);

/** The clock operations a script may use, implemented by each library. */
interface Clock extends Disposable {
  tick(ms: number): void;
  tickAsync(ms: number): Promise<void>;
  next(): void;
  nextAsync(): Promise<void>;
  runAll(): void;
  runAllAsync(): Promise<void>;
  countTimers(): number;
}

function sinonClock(): Clock {
  const clock = FakeTimers.withGlobal(globalThis).install({
    now: START,
    toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date"],
  });
  return {
    tick: (ms) => void clock.tick(ms),
    tickAsync: async (ms) => void await clock.tickAsync(ms),
    next: () => void clock.next(),
    nextAsync: async () => void await clock.nextAsync(),
    runAll: () => void clock.runAll(),
    runAllAsync: async () => void await clock.runAllAsync(),
    countTimers: () => clock.countTimers(),
    [Symbol.dispose]: () => clock.uninstall(),
  };
}

function ourClock(): Clock {
  const time = new FakeTime(START);
  return {
    tick: (ms) => time.tick(ms),
    tickAsync: (ms) => time.tickAsync(ms),
    next: () => void time.next(),
    nextAsync: async () => void await time.nextAsync(),
    runAll: () => time.runAll(),
    runAllAsync: () => time.runAllAsync(),
    countTimers: () => time.countTimers(),
    [Symbol.dispose]: () => time.restore(),
  };
}

/** Records an event with the fake time it happened at. */
type Log = (event: string) => void;

/** A timer script: sets timers up, then drives the clock. */
type Script = (log: Log, clock: Clock) => Promise<void>;

/** Runs `script` under `make`'s clock; the events, the timer counts and the errors, in order. */
async function run(make: () => Clock, script: Script): Promise<string[]> {
  const events: string[] = [];
  using clock = make();
  const log: Log = (event) => events.push(`${Date.now() - START}: ${event}`);
  // The two libraries word their loop-limit errors differently; the scripts' own errors match.
  const threw = (name: string, error: unknown): void => {
    const message = (error as Error).message;
    log(`${name} threw ${/after running 1000 timers/.test(message) ? "the loop limit" : message}`);
  };
  const step = (name: string, op: () => void): void => {
    try {
      op();
    } catch (error) {
      threw(name, error);
    }
    log(`after ${name}: ${clock.countTimers()} timers`);
  };
  const stepAsync = async (name: string, op: () => Promise<void>): Promise<void> => {
    try {
      await op();
    } catch (error) {
      threw(name, error);
    }
    log(`after ${name}: ${clock.countTimers()} timers`);
  };
  const stepped: Clock = {
    tick: (ms) => step(`tick(${ms})`, () => clock.tick(ms)),
    tickAsync: (ms) => stepAsync(`tickAsync(${ms})`, () => clock.tickAsync(ms)),
    next: () => step("next()", () => clock.next()),
    nextAsync: () => stepAsync("nextAsync()", () => clock.nextAsync()),
    runAll: () => step("runAll()", () => clock.runAll()),
    runAllAsync: () => stepAsync("runAllAsync()", () => clock.runAllAsync()),
    countTimers: () => clock.countTimers(),
    [Symbol.dispose]: () => {},
  };
  await script(log, stepped);
  return events;
}

/** Runs `script` under both clocks and checks that they saw the same events. */
async function compare(script: Script): Promise<void> {
  const sinon = await run(sinonClock, script);
  const ours = await run(ourClock, script);
  assert.ok(sinon.length > 0);
  assert.deepEqual(ours, sinon);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test("FakeTime.tickAsync() orders timeouts like sinon, clamped delays included", async () => {
  await compare(async (log, clock) => {
    setTimeout(() => log("c@20"), 20);
    setTimeout(() => log("a@10"), 10);
    setTimeout(() => log("b@10"), 10);
    setTimeout((x: string, y: number) => log(`args ${x} ${y}`), 5, "x", 2);
    setTimeout(() => log("NaN"), NaN);
    setTimeout(() => log("negative"), -5);
    setTimeout(() => log("fraction"), 1.9);
    setTimeout(() => log("2^31"), 2 ** 31);
    setTimeout(() => log("date " + (new Date().getTime() - START)), 7);
    await clock.tickAsync(0);
    await clock.tickAsync(15);
    await clock.tickAsync(10);
  });
});

Deno.test("FakeTime.tick() fires timers set during the tick like sinon", async () => {
  await compare(async (log, clock) => {
    setTimeout(() => {
      log("outer");
      setTimeout(() => log("inner +5"), 5);
      setTimeout(() => {
        log("inner +0");
        setTimeout(() => log("inner +0 +0"), 0);
      }, 0);
      setTimeout(() => log("inner +50"), 50);
    }, 10);
    clock.tick(12);
    clock.tick(0);
    clock.tick(8);
    await clock.tickAsync(100);
  });
});

Deno.test("FakeTime.tickAsync() re-arms and clears intervals like sinon", async () => {
  await compare(async (log, clock) => {
    let runs = 0;
    const seven = setInterval(() => {
      log("every 7");
      if (++runs === 4) clearInterval(seven);
    }, 7);
    const three = setInterval(() => log("every 3"), 3);
    setTimeout(() => {
      log("stop every 3");
      clearInterval(three);
    }, 10);
    await clock.tickAsync(9);
    clock.tick(5);
    await clock.tickAsync(40);
  });
});

Deno.test("FakeTime.tick() skips timers cleared inside callbacks like sinon", async () => {
  await compare(async (log, clock) => {
    const later = setTimeout(() => log("later"), 30);
    setTimeout(() => {
      log("first");
      clearTimeout(sibling);
      clearTimeout(later);
    }, 10);
    const sibling = setTimeout(() => log("sibling"), 10);
    setTimeout(() => log("third"), 10);
    clock.tick(50);
    await clock.tickAsync(0);
  });
});

Deno.test("FakeTime.tickAsync() runs promise continuations between timers like sinon", async () => {
  await compare(async (log, clock) => {
    const worker = async (name: string, steps: number[]): Promise<void> => {
      for (const ms of steps) {
        await sleep(ms);
        log(`${name} woke`);
        // Neither library fakes setImmediate: this is a real macrotask, which runs before the
        // next timer only if the clock yields to the real event loop in between.
        setImmediate(() => log(`${name} real macrotask`));
        for (let i = 0; i < 20; i++) await Promise.resolve(); // a long chain of promise jobs
        log(`${name} after 20 awaits`);
        await sleep(0); // a 0 ms sleep while the clock advances
        log(`${name} after sleep(0)`);
      }
    };
    void worker("a", [10, 10, 10]);
    void worker("b", [15, 1, 15]);
    await clock.tickAsync(12);
    await clock.tickAsync(12);
    clock.tick(3);
    await clock.tickAsync(100);
  });
});

Deno.test("FakeTime.nextAsync() and FakeTime.next() step like sinon", async () => {
  await compare(async (log, clock) => {
    void sleep(100).then(() => {
      log("slept 100");
      setTimeout(() => log("then 0"), 0);
    });
    setTimeout(() => log("at 40"), 40);
    await clock.nextAsync();
    await clock.nextAsync();
    await clock.nextAsync();
    clock.next();
    await clock.nextAsync();
  });
});

Deno.test("FakeTime.runAllAsync() and FakeTime.runAll() run to the end like sinon", async () => {
  await compare(async (log, clock) => {
    void (async () => {
      for (let i = 0; i < 3; i++) {
        await sleep(60_000);
        log(`round ${i}`);
      }
    })();
    const chain = (left: number): void => {
      log(`chain ${left}`);
      if (left > 0) setTimeout(() => chain(left - 1), 500);
    };
    setTimeout(() => chain(3), 500);
    await clock.runAllAsync();
    setTimeout(() => chain(2), 0);
    clock.runAll();
    setInterval(() => {}, 10);
    clock.runAll(); // both give up after 1000 timers
  });
});

Deno.test("FakeTime.tick() rethrows the first timer error after the tick like sinon", async () => {
  await compare(async (log, clock) => {
    const fail = (message: string) => () => {
      log(`throwing ${message}`);
      throw new Error(message);
    };
    setTimeout(fail("first"), 10);
    setTimeout(() => log("still runs"), 20);
    setTimeout(fail("second"), 30);
    clock.tick(50);
    setTimeout(fail("async first"), 10);
    setTimeout(() => log("still runs async"), 20);
    await clock.tickAsync(50);
    setTimeout(fail("from next"), 1);
    setTimeout(() => log("after next"), 2);
    clock.next();
    await clock.nextAsync();
  });
});

/** A seeded PRNG (mulberry32), so that each random script is the same under both clocks. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Random timeouts, intervals, clears and async sleeps, driven by random clock steps. */
function randomScript(seed: number): Script {
  return async (log, clock) => {
    const rnd = random(seed);
    const pick = (n: number): number => Math.floor(rnd() * n);
    const handles: ReturnType<typeof setTimeout>[] = [];
    let next = 0;
    const spawn = (depth: number): void => {
      const id = next++;
      const delay = rnd() < 0.2 ? 0 : pick(40);
      const kind = rnd();
      if (kind < 0.15) {
        let runs = 0;
        const limit = 1 + pick(3);
        const handle = setInterval(() => {
          log(`interval ${id}`);
          if (++runs >= limit) clearInterval(handle);
          if (depth < 3 && rnd() < 0.3) spawn(depth + 1);
        }, 1 + pick(15));
        handles.push(handle);
      } else if (kind < 0.35) {
        void (async () => {
          await sleep(delay);
          log(`sleeper ${id} woke`);
          await Promise.resolve();
          if (depth < 3 && rnd() < 0.6) spawn(depth + 1);
          await sleep(pick(10));
          log(`sleeper ${id} done`);
        })();
      } else {
        handles.push(setTimeout(() => {
          log(`timeout ${id}`);
          if (rnd() < 0.2) setImmediate(() => log(`timeout ${id} real macrotask`));
          if (depth < 3 && rnd() < 0.5) spawn(depth + 1);
          if (rnd() < 0.2 && handles.length > 0) clearTimeout(handles[pick(handles.length)]);
        }, delay));
      }
    };
    for (let i = 0; i < 12; i++) spawn(0);
    for (let i = 0; i < 10; i++) {
      const op = rnd();
      if (op < 0.3) clock.tick(pick(30));
      else if (op < 0.8) await clock.tickAsync(pick(30));
      else await clock.nextAsync();
    }
    await clock.runAllAsync();
  };
}

Deno.test("FakeTime runs random timer scripts exactly like sinon", async () => {
  for (let seed = 1; seed <= 40; seed++) {
    const script = randomScript(seed);
    const sinon = await run(sinonClock, script);
    const ours = await run(ourClock, script);
    assert.deepEqual(ours, sinon, `seed ${seed}`);
  }
});
