// Test helper: a fake clock from @sinonjs/fake-timers that also drives `AbortSignal.timeout`
// (fake-timers does not fake it), restored by `using`.

import FakeTimers from "@sinonjs/fake-timers";

/** A fake clock installed on globalThis; dispose it (or call `uninstall`) to restore real time. */
export interface FakeTime extends Disposable {
  /** Advances time by `ms`, running due timers and the microtasks they schedule. */
  tick(ms: number): Promise<void>;
  /** Runs microtasks and timers due now. */
  flush(): Promise<void>;
  /** The fake `Date.now()`. */
  now(): number;
  /** Restores the real timers. */
  uninstall(): void;
  /** How many fake timers (setTimeout / setInterval) are pending. */
  countTimers(): number;
}

/** Installs a fake clock starting at `start` (default 2026-01-01T00:00:00Z). */
export function fakeTime(start = Date.UTC(2026, 0, 1)): FakeTime {
  const clock = FakeTimers.withGlobal(globalThis).install({
    now: start,
    toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date"],
  });
  const originalTimeout = AbortSignal.timeout;
  AbortSignal.timeout = (ms: number): AbortSignal => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(new DOMException("Signal timed out.", "TimeoutError")), ms);
    return controller.signal;
  };
  let installed = true;
  const uninstall = (): void => {
    if (!installed) return;
    installed = false;
    AbortSignal.timeout = originalTimeout;
    clock.uninstall();
  };
  return {
    tick: async (ms) => {
      await clock.tickAsync(ms);
    },
    flush: async () => {
      await clock.tickAsync(0);
    },
    now: () => clock.now,
    uninstall,
    countTimers: () => clock.countTimers(),
    [Symbol.dispose]: uninstall,
  };
}
