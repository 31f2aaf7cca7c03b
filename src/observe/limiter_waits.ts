// The limiter side of the reporter seam: rate limiters report each wait for admission (after it
// ended: admitted, or aborted) to whoever watches that limiter — `instrument()` watches the
// limiters of the workflows it instruments. A limiter nobody watches pays one WeakMap lookup
// per wait, never on an admission that did not wait.

import { consumerFailed } from "./consumer.ts";

/** Told how long a caller waited at a limiter, and whether it was then admitted. */
export type LimiterWaitWatcher = (waitedMs: number, admitted: boolean) => void;

const watchers = new WeakMap<object, readonly LimiterWaitWatcher[]>();

/** Watches the waits of `limiter`; returns the function that stops watching. */
export function watchLimiterWaits(limiter: object, watcher: LimiterWaitWatcher): () => void {
  watchers.set(limiter, [...watchers.get(limiter) ?? [], watcher]);
  let watching = true;
  return () => {
    if (!watching) return;
    watching = false;
    const left = (watchers.get(limiter) ?? []).filter((other) => other !== watcher);
    if (left.length === 0) watchers.delete(limiter);
    else watchers.set(limiter, left);
  };
}

/** Reports a wait that ended at `limiter` (called by the limiters, after waiting). */
export function limiterWaited(limiter: object, waitedMs: number, admitted: boolean): void {
  const list = watchers.get(limiter);
  if (list === undefined) return;
  for (const watcher of list) {
    try {
      watcher(waitedMs, admitted);
    } catch (error) {
      consumerFailed("a limiter wait", error);
    }
  }
}
