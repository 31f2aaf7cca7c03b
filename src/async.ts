// Private async helpers. They use only the global `setTimeout`/`clearTimeout` so that fake clocks
// (@sinonjs/fake-timers) drive every delay and deadline in the library; `AbortSignal.timeout` is
// avoided on purpose because fake clocks do not control it.

/** A signal that never aborts, for contexts that nothing can cancel (shared: it holds no state). */
export const NEVER_ABORTED: AbortSignal = new AbortController().signal;

/**
 * Resolves after `ms` milliseconds, or rejects with `signal.reason` as soon as the signal aborts.
 * A delay of 0 or less resolves without a timer.
 */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
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
 * the parent's reason). `clear()` releases the timer and the listener.
 */
export function deadline(ms: number, reason: () => unknown, parent?: AbortSignal): Deadline {
  const controller = new AbortController();
  const onParentAbort = (): void => controller.abort(parent?.reason);
  const timer = setTimeout(() => controller.abort(reason()), Math.max(0, ms));
  if (parent?.aborted) onParentAbort();
  else parent?.addEventListener("abort", onParentAbort, { once: true });
  return {
    signal: controller.signal,
    clear(): void {
      clearTimeout(timer);
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
