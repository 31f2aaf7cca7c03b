// Private async helpers. They use only the global `setTimeout`/`clearTimeout` so that fake clocks
// (the testing kit's FakeTime, or @sinonjs/fake-timers) drive every delay and deadline in the
// library; `AbortSignal.timeout` is avoided on purpose because not every fake clock controls it.

/** A signal that never aborts, for contexts that nothing can cancel (shared: it holds no state). */
export const NEVER_ABORTED: AbortSignal = new AbortController().signal;

/**
 * The longest delay `setTimeout` honours (2^31 − 1 ms, about 24.8 days). A longer one fires after
 * about 1 ms, in Deno as in browsers, in the testing kit's FakeTime and in @sinonjs/fake-timers.
 */
export const MAX_TIMER_DELAY = 2_147_483_647;

/** A pending {@link setLongTimeout}. */
export interface LongTimer {
  /** Cancels the timer: the callback will not run, and no `setTimeout` stays pending. */
  clear(): void;
}

const NO_TIMER: LongTimer = { clear: () => {} };

/**
 * Calls `callback` once after `ms` milliseconds: any non-negative finite number, or `Infinity`
 * for never (no timer is armed at all). A negative or `NaN` delay counts as 0, as in
 * `setTimeout`. Delays up to {@link MAX_TIMER_DELAY} are one global `setTimeout`; longer ones are
 * chunked into several, the time left being recomputed from `Date.now()` each time a chunk fires,
 * so fake clocks drive them and a clock moved while waiting is taken into account.
 */
export function setLongTimeout(callback: () => void, ms: number): LongTimer {
  if (ms === Infinity) return NO_TIMER;
  const wait = ms > 0 ? ms : 0; // NaN and negatives: at once, as setTimeout does
  if (wait <= MAX_TIMER_DELAY) {
    const timer = setTimeout(callback, wait);
    return { clear: () => clearTimeout(timer) };
  }
  const target = Date.now() + wait;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const arm = (left: number): void => {
    timer = setTimeout(() => {
      const remaining = target - Date.now();
      if (remaining > 0) arm(remaining);
      else {
        timer = undefined;
        callback();
      }
    }, Math.min(left, MAX_TIMER_DELAY));
  };
  arm(wait);
  return {
    clear(): void {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
    },
  };
}

/**
 * Resolves after `ms` milliseconds, or rejects with `signal.reason` as soon as the signal aborts.
 * A delay of 0 or less resolves without a timer; any longer delay works (see
 * {@link setLongTimeout}), and `Infinity` waits until the signal aborts.
 */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      timer.clear();
      reject(signal?.reason);
    };
    const timer = setLongTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Settles like `promise`, or rejects with `signal.reason` as soon as the signal aborts, whichever
 * comes first. The promise keeps running when the signal wins: this is how a task that ignores its
 * signal is prevented from holding a run hostage.
 */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) {
    promise.catch(() => {}); // the loser's rejection must not surface as unhandled
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      promise.catch(() => {});
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}

/** A controller that aborts itself after a delay, driven by the global `setTimeout`. */
export interface Deadline {
  /** Aborts when the time is up (reason from `reason()`), or when a parent signal aborts. */
  readonly signal: AbortSignal;
  /** Cancels the timer and the parent link; call it on every path. */
  clear(): void;
}

/**
 * Creates a signal that aborts after `ms` with `reason()`, and also follows `parent` (aborting with
 * the parent's reason). Any delay works (see {@link setLongTimeout}); `Infinity` never times out.
 * `clear()` releases the timer and the listener.
 */
export function deadline(ms: number, reason: () => unknown, parent?: AbortSignal): Deadline {
  const controller = new AbortController();
  const onParentAbort = (): void => controller.abort(parent?.reason);
  const timer = setLongTimeout(() => controller.abort(reason()), ms);
  if (parent?.aborted) onParentAbort();
  else parent?.addEventListener("abort", onParentAbort, { once: true });
  return {
    signal: controller.signal,
    clear(): void {
      timer.clear();
      parent?.removeEventListener("abort", onParentAbort);
    },
  };
}

/**
 * A signal that aborts when `parent` does, and that the caller can also abort on its own.
 * `dispose()` unhooks it from the parent.
 */
export function childController(
  parent: AbortSignal | undefined,
): { controller: AbortController; dispose(): void } {
  const controller = new AbortController();
  if (parent === undefined) return { controller, dispose: () => {} };
  const onAbort = (): void => controller.abort(parent.reason);
  if (parent.aborted) onAbort();
  else parent.addEventListener("abort", onAbort, { once: true });
  return { controller, dispose: () => parent.removeEventListener("abort", onAbort) };
}
