// The globals a FakeTime replaces, and how: the fake `setTimeout`/`setInterval`/`clearTimeout`/
// `clearInterval`, `Date`, `performance.now` and `AbortSignal.timeout` it installs, and the exact
// restore of what was there before. The clock itself (its time, its ticks) is in fake_time.ts.

import { ConfigurationError } from "../errors.ts";
import { safeString } from "../describe.ts";
import {
  FakeTimerHandle,
  type FakeTimerOwner,
  type FakeTimerQueue,
  timerDelay,
} from "./fake_timer_queue.ts";

type TimerFunction = (...args: unknown[]) => unknown;

/** The real functions, captured when a clock is installed. */
export interface RealGlobals {
  /** The real `Date`. */
  readonly Date: DateConstructor;
  /** The real `setTimeout`. */
  readonly setTimeout: (callback: TimerFunction, delay?: number, ...args: unknown[]) => unknown;
  /** The real `setInterval`. */
  readonly setInterval: (callback: TimerFunction, delay?: number, ...args: unknown[]) => unknown;
  /** The real `clearTimeout`. */
  readonly clearTimeout: (id?: unknown) => void;
  /** The real `clearInterval`. */
  readonly clearInterval: (id?: unknown) => void;
  /** The real `setImmediate`, when the runtime has one (Deno 2 does). */
  readonly setImmediate: ((callback: () => void) => unknown) | undefined;
  /** The real `performance.now`. */
  readonly performanceNow: () => number;
  /** The real `AbortSignal.timeout`. */
  readonly abortSignalTimeout: (ms: number) => AbortSignal;
}

/** What the fake globals read from the clock that installs them. */
export interface FakeClockView {
  /** Its pending timers. */
  readonly queue: FakeTimerQueue;
  /** The fake time in whole ms since the epoch. */
  now(): number;
  /** The fake ms elapsed since the clock was created, with the sub-ms part. */
  elapsed(): number;
  /** Whether a tick is in progress (a 0 ms delay is then 1 ms). */
  advancing(): boolean;
  /** Whether the clock was restored: the fakes then hand every call to the real functions. */
  restored(): boolean;
}

/**
 * Captures the real functions before anything is replaced.
 *
 * @returns The real globals.
 */
export function captureRealGlobals(): RealGlobals {
  return {
    Date: globalThis.Date,
    setTimeout: globalThis.setTimeout as RealGlobals["setTimeout"],
    setInterval: globalThis.setInterval as RealGlobals["setInterval"],
    clearTimeout: globalThis.clearTimeout as RealGlobals["clearTimeout"],
    clearInterval: globalThis.clearInterval as RealGlobals["clearInterval"],
    setImmediate: typeof globalThis.setImmediate === "function"
      ? globalThis.setImmediate as RealGlobals["setImmediate"]
      : undefined,
    performanceNow: performance.now,
    abortSignalTimeout: AbortSignal.timeout,
  };
}

/**
 * One turn of the real event loop: the real `setImmediate` (what @sinonjs/fake-timers yields with
 * between timers in Deno), or a real 0 ms `setTimeout` where there is none.
 *
 * @param real The real globals.
 * @returns After the turn.
 */
export function yieldToEventLoop(real: RealGlobals): Promise<void> {
  return new Promise((resolve) => {
    if (real.setImmediate !== undefined) real.setImmediate(() => resolve());
    else real.setTimeout(() => resolve(), 0);
  });
}

/** A property replaced, and its own descriptor before (`undefined`: it was inherited). */
interface Replaced {
  target: object;
  key: PropertyKey;
  before: PropertyDescriptor | undefined;
}

/**
 * Replaces the globals with fakes driven by `clock`. When one cannot be replaced, the ones
 * already replaced are put back before the error is thrown.
 *
 * @param clock The clock.
 * @param real The real globals, which the fakes use once the clock is restored.
 * @returns Puts every replaced property back exactly as it was (its own descriptor, or no own
 *   property at all); calling it again does nothing.
 */
export function installFakeGlobals(clock: FakeClockView, real: RealGlobals): () => void {
  const owner: FakeTimerOwner = {
    clear: (id) => void clock.queue.delete(id),
    refresh: (timer) => {
      if (!clock.restored()) clock.queue.reschedule(timer, clock.now() + timer.delay);
    },
  };
  const schedule = (
    repeat: boolean,
    callback: unknown,
    delay: unknown,
    args: unknown[],
  ): FakeTimerHandle => {
    if (typeof callback !== "function") {
      throw new TypeError(
        `The "callback" argument must be of type function. Received ${safeString(callback)}`,
      );
    }
    const ms = timerDelay(delay, clock.advancing());
    const timer = clock.queue.add({
      callback: callback as TimerFunction,
      args,
      delay: ms,
      interval: repeat ? Math.max(1, ms) : undefined, // a 0 ms interval would never let time move
      callAt: clock.now() + ms,
    });
    return new FakeTimerHandle(timer, owner);
  };
  const clear = (realClear: (id?: unknown) => void) => (id?: unknown): void => {
    if (id instanceof FakeTimerHandle) {
      id.close();
      return;
    }
    if (typeof id === "number" && clock.queue.delete(id)) return;
    // Not one of ours: a real timer started before the clock was installed.
    realClear(id);
  };
  const now = (): number => clock.restored() ? real.Date.now() : clock.now();
  const fakes: [object, PropertyKey, unknown][] = [
    [
      globalThis,
      "setTimeout",
      (callback: unknown, delay?: unknown, ...args: unknown[]) =>
        clock.restored()
          ? real.setTimeout(callback as TimerFunction, delay as number, ...args)
          : schedule(false, callback, delay, args),
    ],
    [
      globalThis,
      "setInterval",
      (callback: unknown, delay?: unknown, ...args: unknown[]) =>
        clock.restored()
          ? real.setInterval(callback as TimerFunction, delay as number, ...args)
          : schedule(true, callback, delay, args),
    ],
    [globalThis, "clearTimeout", clear(real.clearTimeout)],
    [globalThis, "clearInterval", clear(real.clearInterval)],
    [globalThis, "Date", fakeDate(real.Date, now)],
    [
      performance,
      "now",
      (): number => clock.restored() ? real.performanceNow.call(performance) : clock.elapsed(),
    ],
    [AbortSignal, "timeout", (ms: number): AbortSignal => {
      if (clock.restored()) return real.abortSignalTimeout.call(AbortSignal, ms);
      const controller = new AbortController();
      // A fake setTimeout, so that it shares the delay rules and shows up in countTimers().
      schedule(
        false,
        () => {
          controller.abort(new DOMException("Signal timed out.", "TimeoutError"));
        },
        abortTimeoutDelay(ms),
        [],
      );
      return controller.signal;
    }],
  ];
  const replaced: Replaced[] = [];
  const restore = (): void => {
    // Backwards, so that a property replaced twice would end with its first descriptor.
    for (const { target, key, before } of replaced.reverse()) {
      if (before === undefined) Reflect.deleteProperty(target, key);
      else Reflect.defineProperty(target, key, before);
    }
    replaced.length = 0;
  };
  for (const [target, key, value] of fakes) {
    const before = Reflect.getOwnPropertyDescriptor(target, key);
    const ok = Reflect.defineProperty(target, key, {
      value,
      writable: true,
      configurable: true,
      enumerable: before?.enumerable ?? false,
    });
    if (!ok) {
      restore();
      throw new ConfigurationError(`Cannot install a FakeTime: ${String(key)} cannot be replaced`);
    }
    replaced.push({ target, key, before });
  }
  return restore;
}

/** A `Date` that reads the fake clock when given no arguments, and is the real one otherwise. */
function fakeDate(RealDate: DateConstructor, now: () => number): DateConstructor {
  // `Date.now` as seen through the fake: a test may replace it (`Date.now = ...`) and put it back,
  // as it could with the real one; the write must land here, never on the real `Date`.
  let dateNow: unknown = now;
  const isNow = (key: PropertyKey): boolean => key === "now";
  // A Proxy rather than a subclass: `Date.prototype` stays the real one, so `instanceof Date`
  // holds for every date (also those made before the clock, or by Deno KV), and `Date.UTC`,
  // `Date.parse` and subclassing behave exactly as before.
  return new Proxy(RealDate, {
    construct: (target, args, newTarget) =>
      Reflect.construct(target, args.length === 0 ? [now()] : args, newTarget),
    apply: (target) => new target(now()).toString(),
    get: (target, key) => isNow(key) ? dateNow : Reflect.get(target, key),
    set: (target, key, value) => {
      if (!isNow(key)) return Reflect.set(target, key, value);
      dateNow = value;
      return true;
    },
    defineProperty: (target, key, descriptor) => {
      if (!isNow(key)) return Reflect.defineProperty(target, key, descriptor);
      if (!("value" in descriptor)) return false; // an accessor `now` is not supported
      dateNow = descriptor.value;
      return true;
    },
    getOwnPropertyDescriptor: (target, key) => {
      const descriptor = Reflect.getOwnPropertyDescriptor(target, key);
      return isNow(key) && descriptor !== undefined
        ? { ...descriptor, value: dateNow }
        : descriptor;
    },
  });
}

/** `AbortSignal.timeout`'s argument checks, as Deno does them (WebIDL `unsigned long long`). */
function abortTimeoutDelay(value: unknown): number {
  const ms = Number(value);
  if (!Number.isFinite(ms)) {
    throw new TypeError(
      "Failed to execute 'AbortSignal.timeout': Argument 1 is not a finite number",
    );
  }
  const whole = Math.trunc(ms);
  if (whole < 0 || whole > Number.MAX_SAFE_INTEGER) {
    throw new TypeError(
      "Failed to execute 'AbortSignal.timeout': Argument 1 is outside the accepted range of 0 to " +
        `${Number.MAX_SAFE_INTEGER}, inclusive`,
    );
  }
  return whole;
}
