// What the task-like models share: running a user callback under the entry's retry policy, and
// picking up run data a task replaced instead of mutating.

import { abortable, NEVER_ABORTED } from "../async.ts";
import { safeInstanceOf, safeString } from "../describe.ts";
import {
  callsDirectly,
  type ResourceMap,
  retryAfter,
  runResolved,
  type TaskContext,
} from "../task/task.ts";
import { contextFor, retryOptions, type Run, type SingleEntry, type StateEntry } from "./run.ts";
import { tracedAttempt } from "./traced.ts";

/** Runs `attempt` under the entry's retry policy, raced against `signal`. */
export function attempts<T, R extends ResourceMap>(
  run: Run<R>,
  state: string,
  entry: StateEntry,
  attempt: (signal: AbortSignal, n: number) => T | Promise<T>,
  signal: AbortSignal | undefined,
): Promise<T> {
  const spans = run.spans;
  if (spans === undefined) {
    return runResolved(
      entry.config,
      (info) => attempt(info.signal, info.attempt),
      retryOptions(run, state, entry.name, signal),
    );
  }
  const parent = run.stateSpan;
  return runResolved(
    entry.config,
    (info) =>
      tracedAttempt(
        run,
        spans,
        parent,
        state,
        entry.name,
        undefined,
        info.attempt,
        info.signal,
        () => attempt(info.signal, info.attempt),
      ),
    retryOptions(run, state, entry.name, signal),
  );
}

/**
 * The engine's fast path for a plain task or router (the `taskModel`/`routerModel` dispatch:
 * one context per attempt, `ctx.data` picked up on success): when its first attempt may be
 * called directly (see `callsDirectly`) and the run can still go on, the context of that attempt,
 * which the engine then passes to {@link firstAttempt}, awaiting it itself — one promise and one
 * await per transition instead of the retry loop's. `undefined` sends the dispatch to its model.
 */
export function directContext<R extends ResourceMap>(
  run: Run<R>,
  state: string,
  entry: SingleEntry,
): TaskContext<string, unknown, R> | undefined {
  // An aborted run goes through the loop, which refuses to start the attempt.
  if (run.signal?.aborted === true || !callsDirectly(entry.config)) return undefined;
  return contextFor(run, state, run.signal ?? NEVER_ABORTED, 1);
}

/**
 * Calls the first attempt of a {@link directContext} dispatch; the result settles like the
 * attempt does, raced against the run's signal when there is one (as the retry loop races it).
 * A synchronous throw is thrown: the caller's `catch` takes it like a rejection.
 */
export function firstAttempt<R extends ResourceMap>(
  run: Run<R>,
  entry: SingleEntry,
  ctx: TaskContext<string, unknown, R>,
): string | Promise<string> {
  const result = entry.run(ctx);
  // A synchronous answer cannot be interrupted: racing it would only cost a promise and a listener
  // on the run's signal, both promoted by the next scavenge under load (unless the task aborted
  // the run itself, which the race turns into the cancellation the loop would report).
  const { signal } = run;
  if (signal === undefined || (typeof result === "string" && !signal.aborted)) return result;
  // `Promise.resolve` adopts a thenable as the loop's `await` does (and, like it, throws for a
  // promise whose `constructor` getter throws: the caller's `catch` takes that as a failure).
  return abortable(Promise.resolve(result), signal);
}

/**
 * Attempts 2, 3, … of a {@link directContext} dispatch whose first attempt failed with `error`:
 * the same attempts as the task model's (a fresh context each, `ctx.data` picked up on success),
 * after the retry loop's decision and backoff for the first failure.
 */
export function retryDirect<R extends ResourceMap>(
  run: Run<R>,
  state: string,
  entry: SingleEntry,
  error: unknown,
): Promise<string> {
  const spans = run.spans;
  return retryAfter(
    entry.config,
    (info) => {
      const ctx = contextFor(run, state, info.signal, info.attempt);
      if (spans === undefined) return settleData(run, ctx, entry.run(ctx));
      return tracedAttempt(
        run,
        spans,
        run.stateSpan,
        state,
        entry.name,
        undefined,
        info.attempt,
        info.signal,
        () => settleData(run, ctx, entry.run(ctx)),
      );
    },
    retryOptions(run, state, entry.name, run.signal),
    error,
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
