// FakeTime: a fake clock for tests, with no dependency. It replaces the global timers, `Date`,
// `performance.now` and `AbortSignal.timeout` while installed, and moves time only when the test
// says so. Its API follows denoland/std's FakeTime; how a tick runs timers follows
// @sinonjs/fake-timers, which cano's own suite was written against (tests/fake_time_sinon_test.ts
// compares the two).

import { CanoError, ConfigurationError } from "../errors.ts";
import { safeString } from "../describe.ts";
import { type FakeTimer, FakeTimerQueue } from "./fake_timer_queue.ts";
import {
  captureRealGlobals,
  installFakeGlobals,
  type RealGlobals,
  yieldToEventLoop,
} from "./fake_globals.ts";

/** Options accepted by {@link FakeTime}. */
export interface FakeTimeOptions {
  /**
   * How many timers `runAll()` and `runAllAsync()` run before deciding that a timer keeps
   * re-arming itself and throwing; a positive integer, 1000 by default (as in sinon).
   */
  loopLimit?: number | undefined;
}

/** The FakeTime currently installed: only one may own the globals at a time. */
let installed: FakeTime | undefined;

/** The largest `|ms|` a `Date` can hold. */
const MAX_DATE = 8.64e15;

/**
 * A fake clock. While installed it replaces `setTimeout`, `setInterval`, `clearTimeout`,
 * `clearInterval`, `Date` (`Date.now()`, `new Date()` and `Date()`; `new Date(value)` and
 * `instanceof Date` work as usual), `performance.now()` (the fake milliseconds elapsed since the
 * clock was created) and `AbortSignal.timeout()` (a fake timer that aborts with a `TimeoutError`
 * `DOMException`). Time moves only with `tick`, `tickAsync`, `next`, `runAll` and the like.
 *
 * Timers fire in order of due time, ties in scheduling order; a timer scheduled during a tick for a
 * time inside the tick fires in that tick, and intervals re-arm. The async methods yield to the
 * real event loop (one real `setImmediate` turn) before starting and after every timer, so promise
 * callbacks and real I/O such as Deno KV progress between timers, as with sinon's `tickAsync`.
 * Delays follow Deno: `NaN` and negatives are 0, above 2^31 − 1 ms they are 1 ms; a 0 delay set
 * while the clock is advancing is 1 ms, so a timer that re-arms itself cannot stall a tick. When a
 * callback throws, `tick`/`tickAsync` run the other due timers and rethrow the first error once
 * the tick is done (sinon's behaviour); `next`/`runAll` and their async forms throw at once.
 *
 * Only one FakeTime can be installed at a time. `restore()` (or disposal with `using`) puts every
 * replaced global back exactly as it was and drops the pending fake timers.
 *
 * @example Drive a timeout
 * ```ts
 * import { FakeTime } from "@cano/cano/testing";
 * import assert from "node:assert/strict";
 *
 * using time = new FakeTime(Date.UTC(2026, 0, 1));
 * const fired: number[] = [];
 * setTimeout(() => fired.push(Date.now()), 1_000);
 *
 * await time.tickAsync(999);
 * assert.deepEqual(fired, []);
 * await time.tickAsync(1);
 * assert.deepEqual(fired, [Date.UTC(2026, 0, 1, 0, 0, 1)]);
 * ```
 */
export class FakeTime implements Disposable {
  readonly #start: number;
  readonly #loopLimit: number;
  readonly #queue = new FakeTimerQueue();
  readonly #real: RealGlobals;
  readonly #uninstall: () => void;
  #now: number;
  /** The sub-millisecond part of the time, kept apart so `Date.now()` stays whole. */
  #fraction = 0;
  /** How many ticks are in progress (nested ticks count): a 0 delay then becomes 1 ms. */
  #advancing = 0;
  #restored = false;

  /**
   * Creates the clock and installs it.
   *
   * @param start The fake time to start at: ms since the epoch or a `Date`; the real time if
   *   omitted.
   * @param options The loop limit of `runAll()`.
   * @throws {ConfigurationError} When another FakeTime is installed, or `start` or the options
   *   are invalid.
   *
   * @example Refuse a second clock
   * ```ts
   * import { FakeTime } from "@cano/cano/testing";
   * import { ConfigurationError } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * using _time = new FakeTime(0);
   * assert.throws(() => new FakeTime(0), ConfigurationError);
   * ```
   */
  constructor(start?: number | Date, options: FakeTimeOptions = {}) {
    if (installed !== undefined) {
      throw new ConfigurationError(
        "Cannot install a FakeTime: another FakeTime is already installed. Restore it first " +
          "(create it with `using`, or call its restore())",
      );
    }
    this.#start = startTime(start);
    this.#now = this.#start;
    this.#loopLimit = loopLimit(options);
    this.#real = captureRealGlobals();
    this.#uninstall = installFakeGlobals({
      queue: this.#queue,
      now: () => this.#now,
      elapsed: () => this.#now + this.#fraction - this.#start,
      advancing: () => this.#advancing > 0,
      restored: () => this.#restored,
    }, this.#real);
    installed = this;
  }

  /**
   * The current fake time in ms since the epoch, as `Date.now()` returns it. Setting it moves the
   * clock forward to that time, running the timers due on the way (as {@link FakeTime.tick}).
   *
   * @example Read and set the time
   * ```ts
   * import { FakeTime } from "@cano/cano/testing";
   * import assert from "node:assert/strict";
   *
   * using time = new FakeTime(1_000);
   * let fired = false;
   * setTimeout(() => fired = true, 500);
   * time.now = 2_000;
   * assert.equal(time.now, 2_000);
   * assert.equal(Date.now(), 2_000);
   * assert.equal(fired, true);
   * ```
   */
  get now(): number {
    return this.#now;
  }

  set now(value: number) {
    this.#assertInstalled("now");
    if (typeof value !== "number" || !(value >= this.#now) || value > MAX_DATE) {
      throw new ConfigurationError(
        `FakeTime.now can only move forward, to a time from ${this.#now} to ${MAX_DATE}, got ${
          safeString(value)
        }`,
      );
    }
    const whole = Math.floor(value);
    this.#advanceTo(whole, value - whole);
  }

  /**
   * The fake time the clock started at, in ms since the epoch.
   *
   * @example Measure the fake time elapsed
   * ```ts
   * import { FakeTime } from "@cano/cano/testing";
   * import assert from "node:assert/strict";
   *
   * using time = new FakeTime(new Date("2026-01-01T00:00:00Z"));
   * time.tick(250);
   * assert.equal(time.now - time.start, 250);
   * assert.equal(performance.now(), 250);
   * ```
   */
  get start(): number {
    return this.#start;
  }

  /**
   * How many fake timers are pending: `setTimeout`s not yet fired or cleared, `setInterval`s not
   * cleared, and `AbortSignal.timeout`s not yet aborted.
   *
   * @returns The count.
   *
   * @example Check that nothing is left behind
   * ```ts
   * import { FakeTime } from "@cano/cano/testing";
   * import assert from "node:assert/strict";
   *
   * using time = new FakeTime(0);
   * const id = setInterval(() => {}, 10);
   * setTimeout(() => {}, 5);
   * assert.equal(time.countTimers(), 2);
   * time.tick(5);
   * assert.equal(time.countTimers(), 1);
   * clearInterval(id);
   * assert.equal(time.countTimers(), 0);
   * ```
   */
  countTimers(): number {
    return this.#queue.size;
  }

  /**
   * Moves the clock forward by `ms`, running every timer due on the way synchronously, in order;
   * no promise callback runs in between (use {@link FakeTime.tickAsync} for that).
   *
   * @param ms How far to move, in ms (0 runs the timers due now).
   * @throws {ConfigurationError} When `ms` is negative or not finite, or the clock was restored.
   * @throws The first error a timer callback threw, once every due timer has run.
   *
   * @example Run an interval three times
   * ```ts
   * import { FakeTime } from "@cano/cano/testing";
   * import assert from "node:assert/strict";
   *
   * using time = new FakeTime(0);
   * const ticks: number[] = [];
   * const id = setInterval(() => ticks.push(Date.now()), 100);
   * time.tick(350);
   * clearInterval(id);
   * assert.deepEqual(ticks, [100, 200, 300]);
   * ```
   */
  tick(ms: number = 0): void {
    this.#assertInstalled("tick");
    const [target, fraction] = this.#target(tickLength(ms, "tick"));
    this.#advanceTo(target, fraction);
  }

  /**
   * Moves the clock forward by `ms` like {@link FakeTime.tick}, but yields to the real event loop
   * before starting and after each timer, so that the promise callbacks and real I/O a timer
   * starts run before the next timer fires.
   *
   * @param ms How far to move, in ms (0 runs the timers due now and settles what they start).
   * @returns When the clock has reached the end of the tick.
   * @throws {ConfigurationError} When `ms` is negative or not finite, or the clock was restored.
   * @throws The first error a timer callback threw, once every due timer has run.
   *
   * @example Let each timer's continuation run
   * ```ts
   * import { FakeTime } from "@cano/cano/testing";
   * import assert from "node:assert/strict";
   *
   * using time = new FakeTime(0);
   * const log: string[] = [];
   * const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
   * (async () => {
   *   await sleep(10);
   *   log.push(`first at ${Date.now()}`);
   *   await sleep(10);
   *   log.push(`second at ${Date.now()}`);
   * })();
   * await time.tickAsync(20);
   * assert.deepEqual(log, ["first at 10", "second at 20"]);
   * ```
   */
  async tickAsync(ms: number = 0): Promise<void> {
    this.#assertInstalled("tickAsync");
    const length = tickLength(ms, "tickAsync");
    await yieldToEventLoop(this.#real);
    if (this.#restored) return;
    // Like sinon, the end of the tick is counted from the time after the first yield.
    const [target, fraction] = this.#target(length);
    let failure: { error: unknown } | undefined;
    this.#advancing++;
    try {
      for (let timer = this.#queue.first(target); timer; timer = this.#queue.first(target)) {
        try {
          this.#fire(timer);
        } catch (error) {
          failure ??= { error };
        }
        await yieldToEventLoop(this.#real);
        if (this.#restored) return;
      }
    } finally {
      this.#advancing--;
    }
    this.#moveTo(target, fraction);
    if (failure) throw failure.error;
  }

  /**
   * Gives the promise callbacks that are ready, and real I/O, one turn of the real event loop,
   * without moving the clock.
   *
   * @returns After one real `setImmediate` turn.
   *
   * @example Settle a chain of promises
   * ```ts
   * import { FakeTime } from "@cano/cano/testing";
   * import assert from "node:assert/strict";
   *
   * using time = new FakeTime(0);
   * let done = false;
   * Promise.resolve().then(() => Promise.resolve()).then(() => done = true);
   * await time.runMicrotasks();
   * assert.equal(done, true);
   * assert.equal(time.now, 0);
   * ```
   */
  async runMicrotasks(): Promise<void> {
    this.#assertInstalled("runMicrotasks");
    await yieldToEventLoop(this.#real);
  }

  /**
   * Moves the clock to the next pending timer and runs it (an interval is re-armed first).
   *
   * @returns Whether there was a timer to run.
   * @throws {ConfigurationError} When the clock was restored.
   * @throws What the timer callback threw.
   *
   * @example Step from timer to timer
   * ```ts
   * import { FakeTime } from "@cano/cano/testing";
   * import assert from "node:assert/strict";
   *
   * using time = new FakeTime(0);
   * setTimeout(() => {}, 30);
   * setTimeout(() => {}, 10);
   * assert.equal(time.next(), true);
   * assert.equal(time.now, 10);
   * assert.equal(time.next(), true);
   * assert.equal(time.now, 30);
   * assert.equal(time.next(), false);
   * ```
   */
  next(): boolean {
    this.#assertInstalled("next");
    const timer = this.#queue.first();
    if (timer === undefined) return false;
    this.#advancing++;
    try {
      this.#fire(timer);
    } finally {
      this.#advancing--;
    }
    return true;
  }

  /**
   * Like {@link FakeTime.next}, yielding to the real event loop before and after the timer runs.
   *
   * @returns Whether there was a timer to run.
   * @throws {ConfigurationError} When the clock was restored.
   * @throws What the timer callback threw, after the yield that follows it.
   *
   * @example Run the next timer and its continuation
   * ```ts
   * import { FakeTime } from "@cano/cano/testing";
   * import assert from "node:assert/strict";
   *
   * using time = new FakeTime(0);
   * let woke = 0;
   * new Promise((resolve) => setTimeout(resolve, 5_000)).then(() => woke = Date.now());
   * assert.equal(await time.nextAsync(), true);
   * assert.equal(woke, 5_000);
   * ```
   */
  async nextAsync(): Promise<boolean> {
    this.#assertInstalled("nextAsync");
    await yieldToEventLoop(this.#real);
    if (this.#restored) return false;
    let failure: { error: unknown } | undefined;
    let ran: boolean;
    try {
      ran = this.next();
    } catch (error) {
      ran = true;
      failure = { error };
    }
    if (!ran) return false;
    await yieldToEventLoop(this.#real);
    if (failure) throw failure.error;
    return true;
  }

  /**
   * Runs timers with {@link FakeTime.next} until none is pending, including the ones they set.
   *
   * @throws {ConfigurationError} When the clock was restored.
   * @throws {CanoError} After `loopLimit` timers (see {@link FakeTimeOptions}), as timers that
   *   keep re-arming themselves would otherwise run forever.
   * @throws What a timer callback threw; the timers after it stay pending.
   *
   * @example Run a chain of timeouts to the end
   * ```ts
   * import { FakeTime } from "@cano/cano/testing";
   * import assert from "node:assert/strict";
   *
   * using time = new FakeTime(0);
   * let runs = 0;
   * const again = () => {
   *   if (++runs < 3) setTimeout(again, 1_000);
   * };
   * setTimeout(again, 1_000);
   * time.runAll();
   * assert.equal(runs, 3);
   * assert.equal(time.now, 3_000);
   * ```
   */
  runAll(): void {
    this.#assertInstalled("runAll");
    for (let runs = 0; this.#queue.size > 0; runs++) {
      if (runs >= this.#loopLimit) throw this.#loopError("runAll");
      this.next();
    }
  }

  /**
   * Like {@link FakeTime.runAll}, yielding to the real event loop before starting and after each
   * timer, so that timers set by promise callbacks also run.
   *
   * @returns When no timer is pending.
   * @throws {ConfigurationError} When the clock was restored.
   * @throws {CanoError} After `loopLimit` timers.
   * @throws What a timer callback threw; the timers after it stay pending.
   *
   * @example Run a sleep loop to the end
   * ```ts
   * import { FakeTime } from "@cano/cano/testing";
   * import assert from "node:assert/strict";
   *
   * using time = new FakeTime(0);
   * const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
   * let rounds = 0;
   * (async () => {
   *   for (let i = 0; i < 4; i++) {
   *     await sleep(60_000);
   *     rounds++;
   *   }
   * })();
   * await time.runAllAsync();
   * assert.equal(rounds, 4);
   * assert.equal(time.now, 240_000);
   * ```
   */
  async runAllAsync(): Promise<void> {
    this.#assertInstalled("runAllAsync");
    await yieldToEventLoop(this.#real);
    for (let runs = 0; !this.#restored && this.#queue.size > 0; runs++) {
      if (runs >= this.#loopLimit) throw this.#loopError("runAllAsync");
      this.next();
      await yieldToEventLoop(this.#real);
    }
  }

  /**
   * Uninstalls the clock: every replaced global is put back exactly as it was, and the pending
   * fake timers are dropped. Calling it again does nothing. Fake functions kept from before (such
   * as a saved reference to the fake `setTimeout`) use the real ones from then on.
   *
   * @example Restore the real clock
   * ```ts
   * import { FakeTime } from "@cano/cano/testing";
   * import assert from "node:assert/strict";
   *
   * const realSetTimeout = globalThis.setTimeout;
   * const time = new FakeTime(0);
   * assert.notEqual(globalThis.setTimeout, realSetTimeout);
   * time.restore();
   * assert.equal(globalThis.setTimeout, realSetTimeout);
   * assert.ok(Date.now() > 0);
   * ```
   */
  restore(): void {
    if (this.#restored) return;
    this.#restored = true;
    this.#queue.clear();
    this.#uninstall();
    if (installed === this) installed = undefined;
  }

  /**
   * Restores the real clock (see {@link FakeTime.restore}); `using` calls it.
   *
   * @example Restore at the end of the block
   * ```ts
   * import { FakeTime } from "@cano/cano/testing";
   * import assert from "node:assert/strict";
   *
   * {
   *   using _time = new FakeTime(0);
   *   assert.equal(Date.now(), 0);
   * }
   * assert.ok(Date.now() > 0);
   * ```
   */
  [Symbol.dispose](): void {
    this.restore();
  }

  /** Runs the timers due by `target` without yielding, then moves the clock there. */
  #advanceTo(target: number, fraction: number): void {
    let failure: { error: unknown } | undefined;
    this.#advancing++;
    try {
      for (let timer = this.#queue.first(target); timer; timer = this.#queue.first(target)) {
        try {
          this.#fire(timer);
        } catch (error) {
          failure ??= { error };
        }
        if (this.#restored) return;
      }
    } finally {
      this.#advancing--;
    }
    this.#moveTo(target, fraction);
    if (failure) throw failure.error;
  }

  /** The whole-ms time `length` ms from now, and the sub-ms part left over. */
  #target(length: number): [number, number] {
    const exact = this.#fraction + length;
    const whole = Math.floor(exact);
    return [this.#now + whole, exact - whole];
  }

  /** Ends a tick at `target`, unless a nested tick (a callback that ticked) went further. */
  #moveTo(target: number, fraction: number): void {
    if (target > this.#now) {
      this.#now = target;
      this.#fraction = fraction;
    } else if (target === this.#now) {
      this.#fraction = fraction;
    }
  }

  /** Moves the clock to `timer` and runs it; an interval is re-armed before its callback runs. */
  #fire(timer: FakeTimer): void {
    if (timer.callAt > this.#now) {
      this.#now = timer.callAt;
      this.#fraction = 0;
    }
    if (timer.interval !== undefined) this.#queue.reschedule(timer, timer.callAt + timer.interval);
    else this.#queue.delete(timer.id);
    timer.callback(...timer.args);
  }

  #assertInstalled(method: string): void {
    if (this.#restored) {
      throw new ConfigurationError(
        `FakeTime.${method} cannot be used: this FakeTime was restored. Create a new FakeTime to ` +
          "fake time again",
      );
    }
  }

  #loopError(method: string): CanoError {
    return new CanoError(
      `FakeTime.${method}() stopped after running ${this.#loopLimit} timers: a timer keeps ` +
        "re-arming itself (an interval, or a timeout that sets another). Advance by a fixed " +
        "amount with tickAsync(ms), or raise the loopLimit option",
    );
  }
}

/** The start time in ms since the epoch, or a {@link ConfigurationError} naming the bad value. */
function startTime(start: unknown): number {
  if (start === undefined) return Date.now();
  const ms = start instanceof Date ? start.getTime() : start;
  if (typeof ms !== "number" || !Number.isFinite(ms) || Math.abs(ms) > MAX_DATE) {
    throw new ConfigurationError(
      `FakeTime start must be a finite number of ms since the epoch or a valid Date, got ${
        start instanceof Date ? "Invalid Date" : safeString(start)
      }`,
    );
  }
  return Math.floor(ms);
}

/** The options' loop limit, or a {@link ConfigurationError} naming the bad value. */
function loopLimit(options: FakeTimeOptions): number {
  if (typeof options !== "object" || options === null) {
    throw new ConfigurationError(`FakeTime options must be an object, got ${safeString(options)}`);
  }
  const limit = options.loopLimit ?? 1_000;
  if (!Number.isSafeInteger(limit) || limit < 1) {
    throw new ConfigurationError(
      `FakeTime loopLimit must be a positive integer, got ${safeString(limit)}`,
    );
  }
  return limit;
}

/** A tick's length, or a {@link ConfigurationError} naming the bad value. */
function tickLength(ms: unknown, method: string): number {
  if (typeof ms !== "number" || !Number.isFinite(ms) || ms < 0) {
    throw new ConfigurationError(
      `FakeTime.${method}() needs a finite number of ms >= 0, got ${safeString(ms)}`,
    );
  }
  return ms;
}
