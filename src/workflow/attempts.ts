// What the task-like models share: running a user callback under the entry's retry policy, and
// picking up run data a task replaced instead of mutating.

import { safeInstanceOf, safeString } from "../describe.ts";
import { type ResourceMap, runResolved } from "../task/task.ts";
import { retryOptions, type Run, type StateEntry } from "./run.ts";

/** Runs `attempt` under the entry's retry policy, raced against `signal`. */
export function attempts<T, R extends ResourceMap>(
  run: Run<R>,
  state: string,
  entry: StateEntry,
  attempt: (signal: AbortSignal, n: number) => T | Promise<T>,
  signal: AbortSignal | undefined,
): Promise<T> {
  return runResolved(
    entry.config,
    (info) => attempt(info.signal, info.attempt),
    retryOptions(run, state, entry.name, signal),
  );
}

/** Picks up a task that replaced `ctx.data` instead of mutating it. */
export function settleData<R extends ResourceMap, T>(
  run: Run<R>,
  ctx: { data: unknown },
  result: T | Promise<T>,
): T | Promise<T> {
  if (!safeInstanceOf(result, Promise)) {
    run.data = ctx.data;
    return result;
  }
  return (result as Promise<T>).then((value) => {
    run.data = ctx.data;
    return value;
  });
}

/** A returned value for an error message. */
export function describeResult(value: unknown): string {
  if (value === undefined || value === null) return String(value);
  let text: string;
  try {
    text = JSON.stringify(value) ?? safeString(value);
  } catch {
    text = safeString(value);
  }
  return `a ${typeof value} (${text.slice(0, 100)})`;
}
